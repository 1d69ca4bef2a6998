//! The export function's package (`scripts/pg-binaries package`, run by `scripts/setup`): pg_dump
//! of the newest PostgreSQL major for linux/arm64 with every library it needs beyond glibc, for
//! `provided.al2023` (glibc 2.34). Proven here without AWS: the ELF headers, the glibc symbol
//! versions, and pg_dump really running under qemu-user with only the package and an aarch64
//! glibc — against the stack's newest-major cluster.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// glibc of the `provided.al2023` runtime (Amazon Linux 2023).
const AL2023_GLIBC: (u32, u32) = (2, 34);
/// Debian's aarch64 glibc (libc6-arm64-cross, installed by scripts/setup).
const SYSROOT: &str = "/usr/aarch64-linux-gnu";
/// Libraries glibc itself provides on the runtime; everything else must be in the package.
const GLIBC_LIBS: &[&str] = &[
    "libc.so.6",
    "libm.so.6",
    "libresolv.so.2",
    "libpthread.so.0",
    "libdl.so.2",
    "librt.so.1",
    "ld-linux-aarch64.so.1",
];

fn package() -> PathBuf {
    let dir = drill_tests::infra::repo().join("target/lambda/export-pg_dump/pg_dump");
    assert!(
        dir.join("bin/pg_dump").is_file(),
        "no export package at {}: run scripts/setup (or scripts/pg-binaries package)",
        dir.display()
    );
    dir
}

fn elf_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = vec![dir.join("bin/pg_dump")];
    let mut libs: Vec<PathBuf> = std::fs::read_dir(dir.join("lib"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    libs.sort();
    files.extend(libs);
    files
}

fn tool(program: &str, args: &[&str], file: &Path) -> String {
    let out = Command::new(program).args(args).arg(file).output().unwrap();
    assert!(out.status.success(), "{program} {}", file.display());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn every_file_is_aarch64_needs_at_most_glibc_2_34_and_nothing_outside_the_package() {
    let dir = package();
    let files = elf_files(&dir);
    assert!(files.len() >= 5, "{files:?}");
    let shipped: BTreeSet<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for file in &files {
        let header = tool("readelf", &["-h"], file);
        assert!(
            header.contains("AArch64") && header.contains("ELF64"),
            "{} is not an aarch64 ELF:\n{header}",
            file.display()
        );
        let dynamic = tool("readelf", &["-d"], file);
        for needed in dynamic.lines().filter_map(|l| {
            l.contains("(NEEDED)")
                .then(|| l.split('[').nth(1)?.split(']').next().map(str::to_owned))
                .flatten()
        }) {
            assert!(
                shipped.contains(&needed) || GLIBC_LIBS.contains(&needed.as_str()),
                "{} needs {needed}, which is neither in the package nor part of glibc",
                file.display()
            );
        }
        // Found through RUNPATH, so the function needs no LD_LIBRARY_PATH.
        assert!(
            dynamic.contains("$ORIGIN"),
            "{} has no $ORIGIN RUNPATH",
            file.display()
        );
        let symbols = tool("objdump", &["-T"], file);
        let newest = symbols
            .split_whitespace()
            .filter_map(|w| w.trim_matches(['(', ')']).strip_prefix("GLIBC_"))
            .filter_map(|v| {
                let mut p = v.split('.').map(|n| n.parse::<u32>().ok());
                Some((p.next()??, p.next().flatten().unwrap_or(0)))
            })
            .max()
            .unwrap_or_else(|| panic!("{} has no glibc symbols", file.display()));
        assert!(
            newest <= AL2023_GLIBC,
            "{} needs GLIBC_{}.{}, provided.al2023 has {}.{}",
            file.display(),
            newest.0,
            newest.1,
            AL2023_GLIBC.0,
            AL2023_GLIBC.1
        );
    }
}

/// pg_dump under qemu-user, with a clean environment: only the package and the glibc sysroot.
fn qemu_pg_dump(dir: &Path) -> Command {
    assert!(
        Path::new(SYSROOT)
            .join("lib/ld-linux-aarch64.so.1")
            .exists(),
        "no aarch64 glibc at {SYSROOT}: run scripts/setup (libc6-arm64-cross)"
    );
    let mut c = Command::new("qemu-aarch64");
    c.env_clear()
        .env("QEMU_LD_PREFIX", SYSROOT)
        .arg(dir.join("bin/pg_dump"));
    c
}

#[test]
fn pg_dump_of_the_newest_major_runs_under_qemu_and_dumps_the_newest_server() {
    let dir = package();
    let out = qemu_pg_dump(&dir).arg("--version").output().unwrap();
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shipped = std::fs::read_to_string(dir.join("VERSION")).unwrap();
    let major = drill_core::pgversion::pg_dump_major(&version).expect("a pg_dump version");
    assert!(major >= 18, "{version}");
    assert!(
        version.ends_with(shipped.trim().trim_end_matches(".0")),
        "{version} vs package {shipped}"
    );

    // libpq, libssl, zstd, ... really load: a schema dump of the stack's newest-major cluster.
    let url = drill_tests::stack_var("DRILL_TEST_PG_NEWEST_URL");
    let out = qemu_pg_dump(&dir)
        .args(["--schema-only", "--dbname", &url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("PostgreSQL database dump complete"));
}

#[test]
fn the_function_zip_holds_bootstrap_and_pg_dump() {
    package();
    let tmp = tempfile::tempdir().unwrap();
    let bootstrap = tmp.path().join("bootstrap");
    std::fs::write(&bootstrap, b"#!/bin/sh\n").unwrap();
    let zip = tmp.path().join("export.zip");
    let out = Command::new(drill_tests::infra::repo().join("scripts/pg-binaries"))
        .arg("package")
        .env("DRILL_EXPORT_BOOTSTRAP", &bootstrap)
        .env("DRILL_EXPORT_ZIP", &zip)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = tool("unzip", &["-Z1"], &zip);
    let entries: BTreeSet<&str> = listing.lines().collect();
    for e in [
        "bootstrap",
        "pg_dump/bin/pg_dump",
        "pg_dump/lib/libpq.so.5",
        "pg_dump/lib/libssl.so.3",
    ] {
        assert!(entries.contains(e), "{e} not in the zip: {entries:?}");
    }
    let size = std::fs::metadata(&zip).unwrap().len();
    // Lambda's limit for a directly uploaded zip is 50 MB.
    assert!(size < 50 * 1024 * 1024, "{size} bytes");
    eprintln!("export.zip with pg_dump: {size} bytes");
}
