//! The Python interpreter of the interop venv, for the interop tests of this binary:
//! `<repo>/.venv/bin/python`, made by `tests/interop/setup-venv.sh`. The crate's unit tests
//! have their own lookup (`src/test_support/python.rs`): they are another crate.

use std::path::PathBuf;

/// The venv's python, or `None` after a skip note when the venv is missing; panics when it
/// is missing and `JAEGER_LAYER_REQUIRE_INTEROP=1` (CI) says the interop tests must run.
pub(crate) fn interop_python() -> Option<PathBuf> {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    if python.exists() {
        return Some(python);
    }
    if std::env::var("JAEGER_LAYER_REQUIRE_INTEROP").as_deref() == Ok("1") {
        panic!(
            "JAEGER_LAYER_REQUIRE_INTEROP=1 but {} is missing: run tests/interop/setup-venv.sh",
            python.display()
        );
    }
    eprintln!("skipping interop test: {} missing (run tests/interop/setup-venv.sh)", python.display());
    None
}
