//! Reading an input file (policy, catalog, category list, config) whole, with a size cap: a
//! file larger than the cap, or an endless one (a character device such as `/dev/zero`, a
//! pipe that never ends), is refused with an error that says so and names the option that
//! raises the cap, after reading at most the cap and one byte more. A directory is refused by
//! name, before any read (Linux's own answer, "Is a directory" or "No such device", names
//! neither the file nor the fix).
//!
//! The cap is one process-wide setting ([`set_max_input_bytes`]), set once by the binary from
//! `--max-input-mib` or `PCGATE_MAX_INPUT_MIB` before any file is read; every loader of the
//! data plane and the control side reads through [`read`], so none needs the cap passed in.
//! Capture files are not read here: they are memory-mapped and read in place, whatever their
//! size.

use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// The default cap: 64 MiB, far above any policy or catalog (a policy of 200 000 subscribers is
/// 16 MB), and above the common public blocklists (a few million domains). Every parser here is
/// linear in its input.
pub const DEFAULT_MAX_INPUT_MIB: u64 = 64;

/// Memory a TOML file takes while it is parsed and compiled, per byte of it (measured: a
/// 16 MB policy of 200 000 subscribers peaked at 540 MB resident, 34 times its size).
pub const TOML_MEMORY_PER_BYTE: u64 = 40;

/// The option and the environment variable that set the cap, named in the errors.
pub const MAX_INPUT_OPTION: &str = "--max-input-mib";
pub const MAX_INPUT_ENV: &str = "PCGATE_MAX_INPUT_MIB";

static MAX_INPUT_BYTES: AtomicU64 = AtomicU64::new(DEFAULT_MAX_INPUT_MIB << 20);

/// Sets the cap on the bytes of one input file.
pub fn set_max_input_bytes(bytes: u64) {
    MAX_INPUT_BYTES.store(bytes, Ordering::Relaxed);
}

/// The cap on the bytes of one input file.
pub fn max_input_bytes() -> u64 {
    MAX_INPUT_BYTES.load(Ordering::Relaxed)
}

/// Why an input file could not be read. Its message does not repeat the path: the loaders'
/// errors put it in front.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("is a directory, not a file")]
    Directory,
    #[error(
        "larger than {} MiB, the cap on an input file (or it never ends, as a device can); \
         raise it with {MAX_INPUT_OPTION} or {MAX_INPUT_ENV}",
        .0 >> 20
    )]
    TooLarge(u64),
    #[error(
        "{} MiB of TOML takes about {} MiB of memory to load, more than the {} MiB the \
         address-space limit (ulimit -v) leaves: raise the limit or split the file",
        .size.div_ceil(1 << 20),
        .need >> 20,
        .free >> 20
    )]
    TooLargeToParse { size: u64, need: u64, free: u64 },
}

/// Reads `path` whole, with the process's cap ([`max_input_bytes`]).
pub fn read(path: &Path) -> Result<Vec<u8>, InputError> {
    read_capped(path, max_input_bytes())
}

/// Reads a TOML file whole ([`read`]), and refuses it when parsing it would take more memory
/// than the address-space limit leaves ([`TOML_MEMORY_PER_BYTE`]), rather than abort part-way.
pub fn read_toml(path: &Path) -> Result<Vec<u8>, InputError> {
    let bytes = read(path)?;
    let size = bytes.len() as u64;
    let need = size.saturating_mul(TOML_MEMORY_PER_BYTE);
    if let Some((limit, used)) = crate::engine::limits::address_space() {
        let free = limit.saturating_sub(used);
        if need > free {
            return Err(InputError::TooLargeToParse { size, need, free });
        }
    }
    Ok(bytes)
}

/// Reads `path` whole, refusing it once it has more than `cap` bytes.
pub fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, InputError> {
    if std::fs::metadata(path)?.is_dir() {
        return Err(InputError::Directory);
    }
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(cap.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(InputError::TooLarge(cap));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_device_is_refused_after_the_cap() {
        let err = read_capped(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(matches!(err, InputError::TooLarge(c) if c == 1 << 20));
        let text = err.to_string();
        assert!(text.contains("larger than 1 MiB"), "{text}");
        assert!(text.contains("--max-input-mib"), "{text}");
    }

    #[test]
    fn a_file_at_the_cap_is_read_and_one_byte_more_is_refused() {
        let dir = std::env::temp_dir().join(format!("pcgate-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("ten");
        std::fs::write(&file, b"0123456789").unwrap();
        assert_eq!(read_capped(&file, 10).unwrap(), b"0123456789");
        assert!(matches!(
            read_capped(&file, 9),
            Err(InputError::TooLarge(9))
        ));
        let err = read_capped(&dir, 10).unwrap_err();
        assert_eq!(err.to_string(), "is a directory, not a file");
        let err = read_capped(&dir.join("missing"), 10).unwrap_err();
        assert!(matches!(err, InputError::Io(ref e) if e.kind() == std::io::ErrorKind::NotFound));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
