//! The conformance suite on RabbitMQ.

rpc_tests::conformance_suite!(rpc_tests::Kind::Amqp);
rpc_tests::streaming_suite!(rpc_tests::Kind::Amqp);
