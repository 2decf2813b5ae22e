//! The conformance suite on RabbitMQ, speaking oslo.messaging's wire format.

rpc_tests::conformance_suite!(rpc_tests::Kind::Amqp, rpc_runtime::wire::Wire::Oslo);
