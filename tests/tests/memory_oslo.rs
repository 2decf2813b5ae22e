//! The conformance suite on the in-memory transport, speaking
//! oslo.messaging's wire format.

rpc_tests::conformance_suite!(rpc_tests::Kind::Memory, rpc_runtime::wire::Wire::Oslo);
