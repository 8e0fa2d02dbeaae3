//! The plugin guide's example is real code: its manifest, its plugin and
//! the plugin's unit tests are cut out of `docs/plugin-guide.md`, built
//! outside the workspace as a third party would build them, and the tests
//! run. Guide and code cannot drift apart.

use std::path::Path;
use std::process::Command;

use mqhost_tests::plugins::{build_outside_workspace, repo_root, TempDir};

/// The code block right after the marker `<!-- guide example: FILE ...`.
fn example(guide: &str, file: &str) -> String {
    let marker = format!("<!-- guide example: {file} (");
    let after = guide
        .split_once(&marker)
        .unwrap_or_else(|| panic!("no {marker:?} in the guide"))
        .1;
    let mut lines = after.lines().skip(1);
    let fence = lines.next().unwrap_or_default();
    assert!(
        fence.starts_with("```"),
        "{file}: the marker is not followed by a code block"
    );
    let mut code = String::new();
    for line in lines.take_while(|line| *line != "```") {
        code.push_str(line);
        code.push('\n');
    }
    code
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn guide_example_builds_outside_the_workspace_and_its_tests_pass() {
    let guide = std::fs::read_to_string(repo_root().join("docs/plugin-guide.md")).unwrap();
    let manifest = example(&guide, "Cargo.toml");
    let plugin = example(&guide, "src/lib.rs");
    let tests = example(&guide, "src/lib.rs tests");
    assert!(plugin.contains("#![forbid(unsafe_code)]"));

    let work = TempDir::new();
    let source = work.path().join("guide-example");
    write(&source.join("Cargo.toml"), &manifest);
    write(&source.join("src/lib.rs"), &format!("{plugin}\n{tests}"));
    let library = build_outside_workspace(work.path(), &source, |_, _| {});
    assert!(library.exists());

    // The project and target directory build_outside_workspace used: run
    // the example's unit tests there.
    let project = work.path().join("plugin");
    assert!(project.join("Cargo.toml").exists(), "{}", project.display());
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .current_dir(&project)
        .env(
            "CARGO_TARGET_DIR",
            repo_root().join("target").join("external-plugins"),
        )
        .env_remove("RUSTFLAGS")
        .args(["test", "--quiet", "--lib"])
        .output()
        .expect("run cargo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the guide example's tests failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("3 passed"), "{stdout}");
}
