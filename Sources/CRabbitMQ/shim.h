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

// Swift does not import macros that contain casts, so the method ids the
// AMQP module dispatches on are re-exported as constants.
static const amqp_method_number_t cf_method_connection_close = AMQP_CONNECTION_CLOSE_METHOD;
static const amqp_method_number_t cf_method_connection_close_ok = AMQP_CONNECTION_CLOSE_OK_METHOD;
static const amqp_method_number_t cf_method_connection_blocked = AMQP_CONNECTION_BLOCKED_METHOD;
static const amqp_method_number_t cf_method_connection_unblocked = AMQP_CONNECTION_UNBLOCKED_METHOD;
static const amqp_method_number_t cf_method_channel_close = AMQP_CHANNEL_CLOSE_METHOD;
static const amqp_method_number_t cf_method_channel_close_ok = AMQP_CHANNEL_CLOSE_OK_METHOD;
static const amqp_method_number_t cf_method_basic_deliver = AMQP_BASIC_DELIVER_METHOD;
static const amqp_method_number_t cf_method_basic_return = AMQP_BASIC_RETURN_METHOD;
static const amqp_method_number_t cf_method_basic_ack = AMQP_BASIC_ACK_METHOD;
static const amqp_method_number_t cf_method_basic_nack = AMQP_BASIC_NACK_METHOD;
static const amqp_method_number_t cf_method_basic_cancel = AMQP_BASIC_CANCEL_METHOD;

// amqp_login_with_properties is variadic (SASL arguments), which Swift cannot
// call; this fixes the PLAIN mechanism's two arguments.
static inline amqp_rpc_reply_t cf_amqp_login_plain(
    amqp_connection_state_t state, const char *vhost, int channel_max, int frame_max,
    int heartbeat, const amqp_table_t *properties, const char *user, const char *password) {
    return amqp_login_with_properties(state, vhost, channel_max, frame_max, heartbeat, properties,
                                      AMQP_SASL_METHOD_PLAIN, user, password);
}
#endif
