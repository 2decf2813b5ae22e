//! The conformance suite on RabbitMQ.

rpc_tests::conformance_suite!(rpc_tests::Kind::Amqp);
