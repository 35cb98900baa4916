//! kukka's Redis users: one per role, defined once in
//! `k8s/base/redis/users.acl` (Redis ACL rules without passwords), which
//! the in-cluster Redis loads and the tests check against a real
//! redis-server. [`render`] adds the passwords.

use kukka_actors::runtime::role::Role;

/// The ACL rules, as kept in `k8s/base/redis/users.acl`.
pub const RULES: &str = include_str!("../../k8s/base/redis/users.acl");

/// The user operators and their tools log in as (everything allowed).
pub const ADMIN_USER: &str = "kukka-admin";

/// The Redis user of `role`.
pub fn user_of(role: Role) -> &'static str {
    match role {
        Role::Edge => "kukka-edge",
        Role::Order => "kukka-order",
        Role::Payment => "kukka-payment",
        Role::Delivery => "kukka-delivery",
    }
}

/// The users of `rules` that log in with a password (every `user` line
/// that is not `nopass`).
pub fn users(rules: &str) -> Vec<&str> {
    rules
        .lines()
        .filter(|l| !l.contains(" nopass"))
        .filter_map(|l| l.strip_prefix("user "))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect()
}

/// The ACL file Redis loads: `rules` without comments and blank lines, each
/// user with its password from `password` appended (`>password`; which is
/// why passwords must not contain spaces). The shell loop in
/// `k8s/base/redis.yaml` does the same.
pub fn render(rules: &str, password: impl Fn(&str) -> String) -> String {
    let mut out = String::new();
    for line in rules.lines() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push_str(line);
        if !line.contains(" nopass") {
            if let Some(name) = line
                .strip_prefix("user ")
                .and_then(|r| r.split_whitespace().next())
            {
                out.push_str(" >");
                out.push_str(&password(name));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_has_a_user_and_every_user_gets_its_password() {
        let names = users(RULES);
        for role in Role::ALL {
            assert!(names.contains(&user_of(role)), "{role}");
        }
        assert!(names.contains(&ADMIN_USER));
        assert!(!names.contains(&"default"), "default has no password");
        let text = render(RULES, |u| format!("pw-{u}"));
        assert!(!text.contains('#'), "comments dropped");
        for name in names {
            let line = text
                .lines()
                .find(|l| l.starts_with(&format!("user {name} ")))
                .expect("line");
            assert!(line.ends_with(&format!(" >pw-{name}")), "{line}");
        }
        assert!(text.contains("user default on nopass"));
    }

    /// The in-cluster Redis renders the file with a shell loop
    /// (`k8s/base/redis.yaml`): run that loop and compare.
    #[test]
    fn the_kubernetes_redis_renders_the_file_as_render_does() {
        let manifest = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../k8s/base/redis.yaml"
        ))
        .expect("redis.yaml");
        let start = manifest.find("            - |-\n").expect("the script") + 17;
        let end = manifest
            .find("              exec redis-server")
            .expect("its end");
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().display().to_string();
        let script: String = manifest[start..end]
            .lines()
            .map(|l| l.get(14..).unwrap_or("").to_string() + "\n")
            .collect::<String>()
            .replace("/etc/kukka", &format!("{root}/etc"))
            .replace("/run/redis", &root);
        std::fs::create_dir_all(dir.path().join("etc/redis-acl")).expect("dir");
        std::fs::create_dir_all(dir.path().join("etc/redis-users")).expect("dir");
        std::fs::write(dir.path().join("etc/redis-acl/users.acl"), RULES).expect("rules");
        for user in users(RULES) {
            std::fs::write(
                dir.path().join("etc/redis-users").join(user),
                format!("pw-{user}"),
            )
            .expect("password");
        }
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .output()
            .expect("sh");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rendered = std::fs::read_to_string(dir.path().join("users.acl")).expect("rendered");
        assert_eq!(rendered, render(RULES, |u| format!("pw-{u}")));
    }
}
