/* The slice of the official C++ client's C API (the pulsar/c headers) that the
 * bench peers call, declared here because the pulsar-client Python wheel
 * carries the libpulsar shared object but no headers. Opaque handles and
 * plain functions, as documented upstream; shared by blocking_send.c and
 * async_send.c. */
#ifndef PULSARC_BENCH_PULSAR_C_API_H
#define PULSARC_BENCH_PULSAR_C_API_H

#include <stddef.h>

typedef struct pulsar_client pulsar_client_t;
typedef struct pulsar_client_conf pulsar_client_configuration_t;
typedef struct pulsar_producer pulsar_producer_t;
typedef struct pulsar_producer_conf pulsar_producer_configuration_t;
typedef struct pulsar_message pulsar_message_t;
typedef struct _pulsar_message_id pulsar_message_id_t;
typedef int pulsar_result; /* an enum there; 0 = ResultOk */
typedef void (*pulsar_logger)(int level, const char *file, int line, const char *message,
                              void *ctx);
/* The id is the callee's to free (NULL on failure). */
typedef void (*pulsar_send_callback)(pulsar_result r, pulsar_message_id_t *id, void *ctx);

pulsar_client_configuration_t *pulsar_client_configuration_create(void);
void pulsar_client_configuration_free(pulsar_client_configuration_t *conf);
void pulsar_client_configuration_set_io_threads(pulsar_client_configuration_t *conf, int threads);
void pulsar_client_configuration_set_logger(pulsar_client_configuration_t *conf,
                                            pulsar_logger logger, void *ctx);
pulsar_client_t *pulsar_client_create(const char *url, const pulsar_client_configuration_t *conf);
pulsar_result pulsar_client_close(pulsar_client_t *client);
void pulsar_client_free(pulsar_client_t *client);
pulsar_producer_configuration_t *pulsar_producer_configuration_create(void);
void pulsar_producer_configuration_free(pulsar_producer_configuration_t *conf);
void pulsar_producer_configuration_set_batching_enabled(pulsar_producer_configuration_t *conf,
                                                        int enabled);
void pulsar_producer_configuration_set_batching_max_messages(pulsar_producer_configuration_t *conf,
                                                             unsigned int n);
void pulsar_producer_configuration_set_batching_max_allowed_size_in_bytes(
    pulsar_producer_configuration_t *conf, unsigned long bytes);
void pulsar_producer_configuration_set_batching_max_publish_delay_ms(
    pulsar_producer_configuration_t *conf, unsigned long ms);
void pulsar_producer_configuration_set_max_pending_messages(pulsar_producer_configuration_t *conf,
                                                            int n);
void pulsar_producer_configuration_set_block_if_queue_full(pulsar_producer_configuration_t *conf,
                                                           int block);
pulsar_result pulsar_client_create_producer(pulsar_client_t *client, const char *topic,
                                            const pulsar_producer_configuration_t *conf,
                                            pulsar_producer_t **producer);
pulsar_result pulsar_producer_send(pulsar_producer_t *producer, pulsar_message_t *msg);
void pulsar_producer_send_async(pulsar_producer_t *producer, pulsar_message_t *msg,
                                pulsar_send_callback callback, void *ctx);
pulsar_result pulsar_producer_flush(pulsar_producer_t *producer);
pulsar_result pulsar_producer_close(pulsar_producer_t *producer);
void pulsar_producer_free(pulsar_producer_t *producer);
pulsar_message_t *pulsar_message_create(void);
void pulsar_message_set_content(pulsar_message_t *msg, const void *data, size_t size);
void pulsar_message_free(pulsar_message_t *msg);
void pulsar_message_id_free(pulsar_message_id_t *id);
const char *pulsar_result_str(pulsar_result result);

#endif
