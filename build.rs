//! Build script: compiles every `bpf/*.bpf.c` with clang and generates a
//! libbpf-rs skeleton `$OUT_DIR/<name>.skel.rs` for each (included by
//! `src/datapath/bpf.rs` and later the tc program's loader).
//!
//! The compiler is `$CLANG` (set to `clang-19` in `.cargo/config.toml`),
//! falling back to `clang-19`. Kernel UAPI headers come from
//! `/usr/include` (linux-libc-dev) plus the multiarch directory for
//! `asm/types.h`; the libbpf headers (`bpf/bpf_helpers.h`, ...) are supplied
//! by libbpf-cargo from the vendored libbpf.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

use libbpf_cargo::SkeletonBuilder;

const INSTALL_HINT: &str =
    "apt-get install --no-install-recommends clang-19 libelf-dev m4";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let bpf_dir = manifest_dir.join("bpf");

    println!("cargo:rerun-if-env-changed=CLANG");
    println!("cargo:rerun-if-changed={}", bpf_dir.display());

    let clang = env::var("CLANG").unwrap_or_else(|_| "clang-19".to_string());
    check_clang(&clang);

    let mut sources: Vec<PathBuf> = Vec::new();
    let entries = std::fs::read_dir(&bpf_dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", bpf_dir.display()));
    for entry in entries {
        let path = entry.expect("bpf/ directory entry").path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.ends_with(".bpf.c") || name.ends_with(".h") {
            println!("cargo:rerun-if-changed={}", path.display());
        }
        if name.ends_with(".bpf.c") {
            sources.push(path);
        }
    }
    sources.sort();

    let multiarch = multiarch_include();
    for src in &sources {
        let stem = src
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".bpf.c"))
            .expect("bpf source name");
        let skel = out_dir.join(format!("{stem}.skel.rs"));
        // The object is kept next to the skeleton for tests that load it
        // with other tools (e.g. `ip link set dev X xdp obj ...`).
        let obj = out_dir.join(format!("{stem}.bpf.o"));
        let mut args: Vec<String> = vec![
            "-Wall".into(),
            "-Wno-unused-function".into(),
            format!("-I{}", bpf_dir.display()),
        ];
        if let Some(dir) = &multiarch {
            args.push(format!("-I{}", dir.display()));
        }
        SkeletonBuilder::new()
            .source(src)
            .obj(&obj)
            .clang(&clang)
            .clang_args(&args)
            .build_and_generate(&skel)
            .unwrap_or_else(|e| {
                panic!(
                    "building the BPF skeleton from {} failed: {e:#}\n\
                     (needs {clang}, kernel UAPI headers and libelf: {INSTALL_HINT})",
                    src.display()
                )
            });
    }
}

/// Panics with an install hint when the BPF compiler cannot be run.
fn check_clang(clang: &str) {
    match Command::new(clang).arg("--version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "`{clang} --version` failed ({}); install the BPF toolchain: {INSTALL_HINT}",
            out.status
        ),
        Err(e) => panic!(
            "BPF compiler `{clang}` not found ({e}); install it with: {INSTALL_HINT} \
             (or point $CLANG at a clang with the bpf target)"
        ),
    }
}

/// `/usr/include/<triple>` holding `asm/types.h`, if present.
fn multiarch_include() -> Option<PathBuf> {
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_else(|_| "x86_64".into());
    let triple = match arch.as_str() {
        "x86_64" => "x86_64-linux-gnu",
        "aarch64" => "aarch64-linux-gnu",
        "riscv64" => "riscv64-linux-gnu",
        "powerpc64" => "powerpc64le-linux-gnu",
        "s390x" => "s390x-linux-gnu",
        other => other,
    };
    let dir = Path::new("/usr/include").join(triple);
    dir.join("asm/types.h").exists().then_some(dir)
}
