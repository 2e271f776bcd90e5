//! The repository structure shown to the model (as swe-rl's Agentless Mini does): a tree of the files at
//! the base commit, filtered and rendered as Agentless Mini does it.
//!
//! - [`Tree::localization_view`]: only `.py` files, empty folders pruned
//!   (`filter_none_python`), then every entry whose name starts with `test` removed at any
//!   depth (`filter_out_test_files`, which does not prune again) — except for instances whose
//!   id starts with `pytest`.
//! - [`Tree::test_view`]: entries whose name contains `test` (any case) with everything under
//!   them, and the folders leading to them (`keep_test_files`), `.py` files only — what the
//!   test-file prediction of the reproduction-test stage sees.
//! - [`Tree::render`]: one name per line, `level × indentation` spaces, folders without a
//!   trailing slash, names with a `.` but not `.py` skipped; optionally shuffled at every level.
//!
//! Difference: entries are in git tree order (sorted), not the `os.walk` order of Agentless's
//! pre-computed structure files (which swe-rl reads), and the repository root's entries are
//! at level 0.

use super::rng::Rng;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    entries: Vec<(String, Node)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Dir(Tree),
    File,
}

impl Tree {
    /// Build from file paths (`a/b/c.py`).
    pub fn from_paths<'a>(paths: impl IntoIterator<Item = &'a str>) -> Tree {
        let mut root = Tree::default();
        for path in paths {
            let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
            if !parts.is_empty() {
                root.insert(&parts);
            }
        }
        root
    }

    fn insert(&mut self, parts: &[&str]) {
        let (first, rest) = (parts[0], &parts[1..]);
        if rest.is_empty() {
            if !self.entries.iter().any(|(n, _)| n == first) {
                self.entries.push((first.to_owned(), Node::File));
            }
            return;
        }
        let idx = match self
            .entries
            .iter()
            .position(|(n, node)| n == first && matches!(node, Node::Dir(_)))
        {
            Some(i) => i,
            None => {
                self.entries.push((first.to_owned(), Node::Dir(Tree::default())));
                self.entries.len() - 1
            }
        };
        if let Node::Dir(sub) = &mut self.entries[idx].1 {
            sub.insert(rest);
        }
    }

    /// `.py` files only, empty folders pruned, then `test*` entries removed (unless `keep_tests`).
    pub fn localization_view(&self, keep_tests: bool) -> Tree {
        let mut t = self.python_only();
        if !keep_tests {
            t.drop_tests();
        }
        t
    }

    fn python_only(&self) -> Tree {
        let mut out = Tree::default();
        for (name, node) in &self.entries {
            match node {
                Node::File if name.ends_with(".py") => out.entries.push((name.clone(), Node::File)),
                Node::File => {}
                Node::Dir(sub) => {
                    let sub = sub.python_only();
                    if !sub.entries.is_empty() {
                        out.entries.push((name.clone(), Node::Dir(sub)));
                    }
                }
            }
        }
        out
    }

    fn drop_tests(&mut self) {
        self.entries.retain(|(name, _)| !name.starts_with("test"));
        for (_, node) in &mut self.entries {
            if let Node::Dir(sub) = node {
                sub.drop_tests();
            }
        }
    }

    /// Entries whose name contains `test` (any case), with their subtrees, `.py` files only.
    pub fn test_view(&self) -> Tree {
        self.python_only().keep_tests()
    }

    fn keep_tests(&self) -> Tree {
        let mut out = Tree::default();
        for (name, node) in &self.entries {
            if name.to_lowercase().contains("test") {
                out.entries.push((name.clone(), node.clone()));
            } else if let Node::Dir(sub) = node {
                let sub = sub.keep_tests();
                if !sub.entries.is_empty() {
                    out.entries.push((name.clone(), Node::Dir(sub)));
                }
            }
        }
        out
    }

    /// Every file path, in tree order.
    pub fn files(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.collect("", &mut out);
        out
    }

    fn collect(&self, prefix: &str, out: &mut Vec<String>) {
        for (name, node) in &self.entries {
            let path = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            match node {
                Node::File => out.push(path),
                Node::Dir(sub) => sub.collect(&path, out),
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Render the tree; with `rng`, entries are shuffled at every level.
    pub fn render(&self, indentation: usize, mut rng: Option<&mut Rng>) -> String {
        let mut out = String::new();
        self.render_into(0, indentation, &mut rng, &mut out);
        out
    }

    fn render_into(&self, level: usize, indentation: usize, rng: &mut Option<&mut Rng>, out: &mut String) {
        let mut order: Vec<usize> = (0..self.entries.len()).collect();
        if let Some(r) = rng.as_deref_mut() {
            r.shuffle(&mut order);
        }
        for i in order {
            let (name, node) = &self.entries[i];
            if name.contains('.') && !name.contains(".py") {
                continue;
            }
            for _ in 0..level * indentation {
                out.push(' ');
            }
            out.push_str(name);
            out.push('\n');
            if let Node::Dir(sub) = node {
                sub.render_into(level + 1, indentation, rng, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Tree {
        Tree::from_paths([
            "setup.py",
            "README.md",
            "pkg/__init__.py",
            "pkg/core.py",
            "pkg/data/x.json",
            "pkg/tests/test_core.py",
            "pkg/testing.py",
            "tests/test_a.py",
            "tests/conftest.py",
            "docs/conf.py",
            "docs/img/a.png",
        ])
    }

    #[test]
    fn localization_view_filters_like_agentless_mini() {
        let v = tree().localization_view(false);
        assert_eq!(
            v.files(),
            ["setup.py", "pkg/__init__.py", "pkg/core.py", "docs/conf.py"]
        );
        assert_eq!(
            v.render(4, None),
            "setup.py\npkg\n    __init__.py\n    core.py\ndocs\n    conf.py\n"
        );
        assert_eq!(
            v.render(2, None),
            "setup.py\npkg\n  __init__.py\n  core.py\ndocs\n  conf.py\n"
        );
        // pytest instances keep their tests.
        assert!(
            tree()
                .localization_view(true)
                .files()
                .contains(&"tests/test_a.py".to_owned())
        );
    }

    #[test]
    fn test_view_keeps_test_entries_and_their_subtrees() {
        let v = tree().test_view();
        assert_eq!(
            v.files(),
            [
                "pkg/tests/test_core.py",
                "pkg/testing.py",
                "tests/test_a.py",
                "tests/conftest.py"
            ]
        );
    }

    #[test]
    fn shuffled_rendering_is_deterministic_and_complete() {
        let v = tree().localization_view(false);
        let a = v.render(4, Some(&mut Rng::new(3)));
        let b = v.render(4, Some(&mut Rng::new(3)));
        assert_eq!(a, b);
        let mut la: Vec<&str> = a.lines().map(str::trim).collect();
        la.sort();
        let plain = v.render(4, None);
        let mut lb: Vec<&str> = plain.lines().map(str::trim).collect();
        lb.sort();
        assert_eq!(la, lb);
    }
}
