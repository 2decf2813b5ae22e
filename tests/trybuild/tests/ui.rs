//! Compile errors of `#[rpc_service]`: each mistake gives one clear error on
//! the user's own tokens.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui/*.rs");
}
