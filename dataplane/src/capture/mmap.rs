//! The one place that maps files into memory (the only `unsafe` of the crate).
