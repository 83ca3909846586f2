//! The local files the tool reads — spec, fleet template and inventory,
//! credentials files, keys and certificates — read only when they are regular
//! files, and only up to a documented size, checked before reading and again
//! while reading (a file that grows meanwhile is cut off, not read for ever).
//! A FIFO, a device or a directory is a clear usage error, before any read.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use crate::exit::Exit;

/// The largest spec, fleet template or inventory read: 16 MiB.
pub(crate) const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;

/// The largest credentials file, PEM key or certificate bundle read: 1 MiB.
pub(crate) const MAX_SECRET_FILE_BYTES: u64 = 1024 * 1024;

/// What `path` is, when it is not a regular file.
fn kind(metadata: &std::fs::Metadata) -> Option<&'static str> {
    let file_type = metadata.file_type();
    if file_type.is_file() {
        return None;
    }
    if file_type.is_dir() {
        return Some("a directory");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if file_type.is_fifo() {
            return Some("a FIFO (named pipe)");
        }
        if file_type.is_char_device() || file_type.is_block_device() {
            return Some("a device");
        }
        if file_type.is_socket() {
            return Some("a socket");
        }
    }
    Some("not a regular file")
}

/// Reads `path` (the `what`, for people), a regular file of at most `max`
/// bytes. Errors name the file and what is wrong, never its content.
pub(crate) fn read(path: &Path, what: &str, max: u64) -> Result<Vec<u8>, Exit> {
    let shown = path.display();
    let metadata = std::fs::metadata(path).map_err(|e| {
        Exit::usage(if e.kind() == std::io::ErrorKind::NotFound {
            format!("the {what} {shown} does not exist")
        } else {
            format!("cannot read the {what} {shown}: {e}")
        })
    })?;
    if let Some(kind) = kind(&metadata) {
        return Err(Exit::usage(format!(
            "the {what} {shown} is {kind}, not a regular file: nothing was read"
        )));
    }
    let too_large = || {
        Exit::usage(format!(
            "the {what} {shown} is larger than {} (the most a {what} may be): nothing was used",
            human(max)
        ))
    };
    if metadata.len() > max {
        return Err(too_large());
    }
    let file = std::fs::File::open(path)
        .map_err(|e| Exit::usage(format!("cannot read the {what} {shown}: {e}")))?;
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Exit::usage(format!("cannot read the {what} {shown}: {e}")))?;
    if bytes.len() as u64 > max {
        return Err(too_large());
    }
    Ok(bytes)
}

/// [`read`], as UTF-8 text.
pub(crate) fn read_text(path: &Path, what: &str, max: u64) -> Result<String, Exit> {
    String::from_utf8(read(path, what, max)?).map_err(|e| {
        Exit::usage(format!(
            "the {what} {} is not UTF-8 text (byte {} is not): nothing was used",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
    })
}

/// `path` as named in the file at `named_in`: a relative path is taken from
/// that file's folder (as the fleet's template is from the inventory's).
pub(crate) fn beside(named_in: &Path, path: &str) -> PathBuf {
    let path = Path::new(path);
    if path.is_absolute() {
        return path.to_owned();
    }
    named_in
        .parent()
        .map_or_else(|| path.to_owned(), |dir| dir.join(path))
}

/// Takes every relative path the spec names (TLS files, the JWT key file)
/// from the folder of `file`, the spec (or fleet template) that names them.
pub(crate) fn anchor(spec: &mut brightpattern_servicenow::ResolvedSpec, file: &Path) {
    let at = |path: &mut String| *path = beside(file, path).to_string_lossy().into_owned();
    for tls in [&mut spec.servicenow_tls, &mut spec.brightpattern_tls] {
        for path in [
            &mut tls.root_certificates,
            &mut tls.client_cert,
            &mut tls.client_key,
        ]
        .into_iter()
        .flatten()
        {
            at(path);
        }
    }
    if let brightpattern_servicenow::spec::AuthMethod::Jwt { key_file, .. } = &mut spec.auth {
        at(key_file);
    }
}

fn human(bytes: u64) -> String {
    if bytes.is_multiple_of(1024 * 1024) {
        format!("{} MiB", bytes / (1024 * 1024))
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bounded_regular_files_are_read() {
        let dir = std::env::temp_dir().join(format!("bp-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let small = dir.join("small.toml");
        std::fs::write(&small, "x = 1\n").unwrap();
        assert_eq!(read_text(&small, "spec", 100).unwrap(), "x = 1\n");
        let err = read(&small, "spec", 3).unwrap_err();
        assert!(
            err.message.contains("larger than 3 bytes"),
            "{}",
            err.message
        );
        let err = read(&dir, "spec", 100).unwrap_err();
        assert!(err.message.contains("a directory"), "{}", err.message);
        #[cfg(unix)]
        {
            let err = read(Path::new("/dev/zero"), "spec", 100).unwrap_err();
            assert!(err.message.contains("a device"), "{}", err.message);
        }
        assert_eq!(beside(&small, "key.pem"), dir.join("key.pem"));
        assert_eq!(beside(&small, "/etc/key.pem"), Path::new("/etc/key.pem"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
