/// AMQP 0-9-1 on rabbitmq-c (see issue 4).
public enum AMQPModule {}
