//! Templates in the syntax of Python's `str.format` with keyword fields only: `{name}` is
//! replaced by a value, `{{` and `}}` stand for `{` and `}`. That is the subset the swe-rl and
//! Agentless prompts use, so a template imported from a Python constant renders as
//! `.format(...)` does.
//! Anything else Python would accept (`{0}`, `{}`, `{name!r}`, `{name:>8}`, `{a.b}`, `{a[0]}`)
//! is refused when the template is compiled, never silently rendered differently.

/// A compiled template: literal text and named fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Field(String),
}

/// Why a template does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("single '{{' at byte {0} (write '{{{{' for a literal brace)")]
    UnclosedBrace(usize),
    #[error("single '}}' at byte {0} (write '}}}}' for a literal brace)")]
    SingleClosingBrace(usize),
    #[error(
        "field {{{field}}} at byte {at}: only {{name}} fields are supported (no positions, conversions, format specs, attributes or indexes)"
    )]
    Unsupported { field: String, at: usize },
    #[error("unknown placeholder {{{field}}}; this prompt knows {known}")]
    Unknown { field: String, known: String },
    #[error("the placeholder {{{0}}} is required")]
    Missing(String),
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_alphabetic()) && chars.all(|c| c == '_' || c.is_alphanumeric())
}

impl Template {
    /// The template of the empty text.
    pub fn empty() -> Template {
        Template { parts: Vec::new() }
    }

    /// Compile `text`; every field must be one of `known`, and each of `required` must occur.
    pub fn compile(text: &str, known: &[&str], required: &[&str]) -> Result<Template, TemplateError> {
        let mut parts: Vec<Part> = Vec::new();
        let mut lit = String::new();
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < text.len() {
            let c = bytes[i];
            if c == b'{' {
                if bytes.get(i + 1) == Some(&b'{') {
                    lit.push('{');
                    i += 2;
                    continue;
                }
                let Some(end) = text[i + 1..].find('}') else {
                    return Err(TemplateError::UnclosedBrace(i));
                };
                let field = &text[i + 1..i + 1 + end];
                if !is_identifier(field) {
                    return Err(TemplateError::Unsupported {
                        field: field.to_owned(),
                        at: i,
                    });
                }
                if !known.contains(&field) {
                    return Err(TemplateError::Unknown {
                        field: field.to_owned(),
                        known: known.iter().map(|k| format!("{{{k}}}")).collect::<Vec<_>>().join(", "),
                    });
                }
                if !lit.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut lit)));
                }
                parts.push(Part::Field(field.to_owned()));
                i += end + 2;
            } else if c == b'}' {
                if bytes.get(i + 1) == Some(&b'}') {
                    lit.push('}');
                    i += 2;
                    continue;
                }
                return Err(TemplateError::SingleClosingBrace(i));
            } else {
                // Copy up to the next brace in one go (keeps multi-byte characters whole).
                let next = text[i..].find(['{', '}']).map_or(text.len(), |n| i + n);
                lit.push_str(&text[i..next]);
                i = next;
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Text(lit));
        }
        let t = Template { parts };
        for r in required {
            if !t.uses(r) {
                return Err(TemplateError::Missing((*r).to_owned()));
            }
        }
        Ok(t)
    }

    /// Whether the template has the field `name`.
    pub fn uses(&self, name: &str) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Field(f) if f == name))
    }

    /// Render with `values` (a field without a value renders empty; compile-time checks keep
    /// that from happening with the pipeline's own calls).
    pub fn render(&self, values: &[(&str, &str)]) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Field(f) => {
                    if let Some((_, v)) = values.iter().find(|(k, _)| k == f) {
                        out.push_str(v);
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_python_format() {
        let t = Template::compile("a {x} {{b}} {y}{x}}}", &["x", "y"], &["x"]).unwrap();
        assert_eq!(t.render(&[("x", "1"), ("y", "{z}")]), "a 1 {b} {z}1}");
        // Non-ASCII text around fields stays whole.
        let t = Template::compile("é{x}ü", &["x"], &[]).unwrap();
        assert_eq!(t.render(&[("x", "→")]), "é→ü");
    }

    #[test]
    fn refuses_what_it_would_render_differently() {
        let k = &["x"];
        assert!(matches!(
            Template::compile("{", k, &[]),
            Err(TemplateError::UnclosedBrace(0))
        ));
        assert!(matches!(
            Template::compile("a}b", k, &[]),
            Err(TemplateError::SingleClosingBrace(1))
        ));
        for bad in ["{}", "{0}", "{x!r}", "{x:>3}", "{x.y}", "{x[0]}"] {
            assert!(
                matches!(Template::compile(bad, k, &[]), Err(TemplateError::Unsupported { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            Template::compile("{y}", k, &[]),
            Err(TemplateError::Unknown { .. })
        ));
        assert!(matches!(
            Template::compile("none", k, &["x"]),
            Err(TemplateError::Missing(_))
        ));
    }
}
