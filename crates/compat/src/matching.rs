//! Which profile runs a program when a launch names none: the program's
//! guest architecture first, then its file name against each profile's
//! glob.

use corridor_model::compat::{EngineKind, GuestArch, ProfileSpec};

/// Whether `name` matches `glob` (`*` any run, `?` one character),
/// case-insensitively as box64 compares section names.
pub fn glob_matches(glob: &str, name: &str) -> bool {
    let g: Vec<char> = glob.to_lowercase().chars().collect();
    let n: Vec<char> = name.to_lowercase().chars().collect();
    // Iterative wildcard match with one backtrack point: linear in
    // practice, never exponential.
    let (mut gi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if gi < g.len() && (g[gi] == '?' || g[gi] == n[ni]) {
            gi += 1;
            ni += 1;
        } else if gi < g.len() && g[gi] == '*' {
            star = Some((gi, ni));
            gi += 1;
        } else if let Some((sg, sn)) = star {
            gi = sg + 1;
            ni = sn + 1;
            star = Some((sg, sn + 1));
        } else {
            return false;
        }
    }
    g[gi..].iter().all(|c| *c == '*')
}

/// How specific a glob is: its literal characters.
fn specificity(spec: &ProfileSpec) -> usize {
    spec.matcher.exe.as_deref().map_or(0, |g| {
        g.chars().filter(|c| !matches!(c, '*' | '?')).count() + 1
    })
}

/// The best profile for a program of `arch` named `file_name`: among the
/// profiles of that architecture whose glob matches, those whose engine
/// is installed first, then the most specific glob, then the first name.
pub fn best_profile<'a>(
    profiles: impl IntoIterator<Item = (&'a str, &'a ProfileSpec)>,
    arch: GuestArch,
    file_name: &str,
    installed: impl Fn(EngineKind, GuestArch) -> bool,
) -> Option<&'a str> {
    profiles
        .into_iter()
        .filter(|(_, spec)| spec.guest_arch == arch)
        .filter(|(_, spec)| {
            spec.matcher
                .exe
                .as_deref()
                .is_none_or(|glob| glob_matches(glob, file_name))
        })
        .map(|(name, spec)| {
            (
                installed(spec.engine, arch),
                specificity(spec),
                std::cmp::Reverse(name),
            )
        })
        .max()
        .map(|(_, _, std::cmp::Reverse(name))| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_matches("hello*", "hello.riscv64"));
        assert!(glob_matches("*", ""));
        assert!(glob_matches("7zz", "7ZZ"));
        assert!(glob_matches("a?c", "abc"));
        assert!(!glob_matches("a?c", "ac"));
        assert!(glob_matches("*.x*y", "a.xzzy"));
        assert!(!glob_matches("*.x*y", "a.xzzyz"));
        assert!(!glob_matches("hello", "hello2"));
    }
}
