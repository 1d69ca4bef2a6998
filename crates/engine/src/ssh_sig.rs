//! Checks an OpenSSH signature (`ssh-keygen -Y sign`) over an approval against an allowed-signers
//! file, the way git verifies SSH-signed commits: `-Y find-principals` names who owns the signing
//! key, `-Y verify` proves that principal signed exactly these bytes in our namespace. No
//! signature code of our own: the system `ssh-keygen` (openssh-client) does the cryptography.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use drill_core::plan::approval::NAMESPACE;
use drill_core::plan::Refusal;
use drill_core::{Classified, ErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum SigError {
    #[error("could not run ssh-keygen (install openssh-client): {0}")]
    NoSshKeygen(std::io::Error),
    #[error("allowed signers file {0}: {1}")]
    AllowedSigners(String, String),
}

impl Classified for SigError {
    fn kind(&self) -> ErrorKind {
        match self {
            SigError::NoSshKeygen(_) => ErrorKind::CouldNotRun,
            SigError::AllowedSigners(..) => ErrorKind::InvalidInput,
        }
    }
}

fn first_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("no output")
        .to_owned()
}

/// The principal who signed `message` (the exact bytes of the approval), or why not.
pub fn verify(
    message: &[u8],
    signature: &Path,
    allowed_signers: &Path,
) -> Result<Result<String, Refusal>, SigError> {
    match std::fs::metadata(allowed_signers) {
        Ok(m) if m.is_file() => {}
        Ok(_) => {
            return Err(SigError::AllowedSigners(
                allowed_signers.display().to_string(),
                "not a file".into(),
            ))
        }
        Err(e) => {
            return Err(SigError::AllowedSigners(
                allowed_signers.display().to_string(),
                e.to_string(),
            ))
        }
    }
    if !signature.is_file() {
        return Ok(Err(Refusal::Unsigned {
            signature: signature.display().to_string(),
        }));
    }
    let found = Command::new("ssh-keygen")
        .args(["-Y", "find-principals", "-s"])
        .arg(signature)
        .arg("-f")
        .arg(allowed_signers)
        .output()
        .map_err(SigError::NoSshKeygen)?;
    let principals: Vec<String> = String::from_utf8_lossy(&found.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if !found.status.success() || principals.is_empty() {
        return Ok(Err(Refusal::SignerNotAllowed {
            detail: first_line(&found.stderr),
        }));
    }
    let mut last = String::new();
    for principal in principals {
        let mut child = Command::new("ssh-keygen")
            .args(["-Y", "verify", "-n", NAMESPACE, "-I", &principal, "-s"])
            .arg(signature)
            .arg("-f")
            .arg(allowed_signers)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(SigError::NoSshKeygen)?;
        // ssh-keygen hashes all of stdin before it writes anything, so this cannot deadlock.
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(message).map_err(SigError::NoSshKeygen)?;
        }
        let out = child.wait_with_output().map_err(SigError::NoSshKeygen)?;
        if out.status.success() {
            return Ok(Ok(principal));
        }
        last = first_line(if out.stderr.is_empty() {
            &out.stdout
        } else {
            &out.stderr
        });
    }
    Ok(Err(Refusal::BadSignature { detail: last }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keygen(dir: &Path, name: &str) -> std::path::PathBuf {
        let key = dir.join(name);
        let ok = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
            .arg(&key)
            .status()
            .unwrap()
            .success();
        assert!(ok);
        key
    }

    fn sign(key: &Path, file: &Path, namespace: &str) {
        let out = Command::new("ssh-keygen")
            .args(["-Y", "sign", "-n", namespace, "-f"])
            .arg(key)
            .arg(file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }

    #[test]
    fn only_an_allowed_key_signing_these_bytes_in_our_namespace_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let alice = keygen(dir.path(), "alice");
        let mallory = keygen(dir.path(), "mallory");
        let pubkey = std::fs::read_to_string(alice.with_extension("pub")).unwrap();
        let allowed = dir.path().join("allowed_signers");
        std::fs::write(
            &allowed,
            format!("alice@example.com namespaces=\"{NAMESPACE}\" {pubkey}"),
        )
        .unwrap();
        let msg = dir.path().join("approval.txt");
        std::fs::write(&msg, "restore-drill plan approval v1\n").unwrap();
        let sig = dir.path().join("approval.txt.sig");
        let bytes = std::fs::read(&msg).unwrap();

        assert!(matches!(
            verify(&bytes, &sig, &allowed).unwrap(),
            Err(Refusal::Unsigned { .. })
        ));
        sign(&alice, &msg, NAMESPACE);
        assert_eq!(
            verify(&bytes, &sig, &allowed).unwrap(),
            Ok("alice@example.com".to_owned())
        );
        // The text changed after signing.
        let changed = b"restore-drill plan approval v1\ndestructive: x\n";
        assert!(matches!(
            verify(changed, &sig, &allowed).unwrap(),
            Err(Refusal::BadSignature { .. })
        ));
        // Alice's key, another namespace (e.g. a git commit signature).
        std::fs::remove_file(&sig).unwrap();
        sign(&alice, &msg, "git");
        assert!(matches!(
            verify(&bytes, &sig, &allowed).unwrap(),
            Err(Refusal::BadSignature { .. } | Refusal::SignerNotAllowed { .. })
        ));
        // A key that is not in the allowed signers.
        std::fs::remove_file(&sig).unwrap();
        sign(&mallory, &msg, NAMESPACE);
        let r = verify(&bytes, &sig, &allowed).unwrap();
        assert!(matches!(r, Err(Refusal::SignerNotAllowed { .. })), "{r:?}");
        // No allowed signers file: bad input, not a refusal.
        let err = verify(&bytes, &sig, &dir.path().join("nope")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    }
}
