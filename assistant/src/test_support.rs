//! What the tests share: where the repository's files are.

use std::path::{Path, PathBuf};

/// The repository's root, where `make model` puts the model and `../shared`
/// lies beside.
pub fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}
