#ifndef CRABBITMQ_SHIM_H
#define CRABBITMQ_SHIM_H
// Debian 12 ships rabbitmq-c 0.11 (<amqp.h>); 0.12+ moved headers under rabbitmq-c/.
#if __has_include(<rabbitmq-c/amqp.h>)
#include <rabbitmq-c/amqp.h>
#include <rabbitmq-c/tcp_socket.h>
#include <rabbitmq-c/ssl_socket.h>
#else
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <amqp_ssl_socket.h>
#include <amqp_framing.h>
#endif
#endif
