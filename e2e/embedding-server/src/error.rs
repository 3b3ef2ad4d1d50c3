use std::fmt;

#[derive(Debug)]
pub enum Error {
    /// The model cannot be had on this machine (no python/pip, or the wheel cannot be installed):
    /// tests may skip, the message says why.
    Unavailable(String),
    /// The model files are there but do not load, or inference failed.
    Model(String),
    Io(std::io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unavailable(m) => write!(f, "the embedding model is unavailable: {m}"),
            Error::Model(m) => write!(f, "embedding model: {m}"),
            Error::Io(e) => write!(f, "embedding server: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}
