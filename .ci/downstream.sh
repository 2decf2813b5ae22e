#!/usr/bin/env bash
# A user's own crate, as the README's "Add it to your project" makes it: a
# fresh crate outside the workspace that depends on rpc-runtime by path,
# resolved against the newest compatible dependencies, built with warnings
# as errors, run against the broker; RUST_LOG=rpc_runtime=debug must show
# the runtime's logs on stderr.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
# Built beside the workspace's own target (rebuildable, never committed).
export CARGO_TARGET_DIR="$root/target/downstream"

cd "$dir"
cargo new --quiet --bin greeter
cd greeter
cargo add --quiet --path "$root/rpc-runtime"
cargo add --quiet tokio --features macros,rt-multi-thread
cargo add --quiet serde --features derive
cargo add --quiet thiserror
cp "$root/.ci/downstream/main.rs" src/main.rs
cargo update --quiet
RUSTFLAGS="-D warnings" cargo build --quiet
RUST_LOG=rpc_runtime=debug RUSTFLAGS="-D warnings" cargo run --quiet >out.txt 2>err.txt || {
    cat out.txt err.txt
    exit 1
}
grep -qx "hello, world" out.txt || { echo "the call's answer is missing:"; cat out.txt; exit 1; }
grep -q "rpc_runtime" err.txt || { echo "RUST_LOG=rpc_runtime=debug printed no runtime log:"; cat err.txt; exit 1; }
if grep -q $'\x1b\\[' err.txt; then
    echo "logs to a file carry ANSI colours"
    exit 1
fi
cat err.txt
echo "a fresh crate builds without warnings, calls, and shows $(grep -c rpc_runtime err.txt) runtime log lines"
