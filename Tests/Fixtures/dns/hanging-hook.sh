#!/bin/bash
# Never finishes: the provider's timeout must kill it.
sleep 300
