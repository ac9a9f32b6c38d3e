//! Build script: the git commit for `onetime --version`, when the source is a git checkout.
//!
//! A source tarball has no `.git` (or no `git`): the version then says so instead of failing
//! the build.

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    let described = commit.unwrap_or_else(|| "unknown commit".to_owned());
    println!("cargo:rustc-env=ONETIME_GIT_COMMIT={described}");
    // Rebuilt when HEAD moves (a commit, a checkout), not on every build. In a worktree `.git`
    // is a file naming the real git directory; `git rev-parse --git-dir` finds it either way.
    if let Some(dir) = Command::new("git")
        .args(["rev-parse", "--git-dir"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
    {
        let dir = dir.trim();
        println!("cargo:rerun-if-changed={dir}/HEAD");
        if let Ok(head) = std::fs::read_to_string(format!("{dir}/HEAD")) {
            if let Some(reference) = head.strip_prefix("ref: ") {
                let common = Command::new("git")
                    .args(["rev-parse", "--git-common-dir"])
                    .output()
                    .ok()
                    .and_then(|o| String::from_utf8(o.stdout).ok())
                    .unwrap_or_else(|| dir.to_owned());
                let common = common.trim();
                println!("cargo:rerun-if-changed={common}/{}", reference.trim());
                println!("cargo:rerun-if-changed={common}/packed-refs");
            }
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
