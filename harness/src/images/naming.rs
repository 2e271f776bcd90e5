//! Image and container names exactly as the official harness (4.x) writes them.

/// CPU architecture of the images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Arch {
    #[default]
    X86_64,
    Arm64,
}

impl Arch {
    /// The host's architecture (arm64 on aarch64 hosts, else x86_64).
    pub fn host() -> Self {
        if std::env::consts::ARCH == "aarch64" {
            Arch::Arm64
        } else {
            Arch::X86_64
        }
    }

    /// The name part: `x86_64` or `arm64`.
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }

    /// Docker platform string (as 4.x `TestSpec.platform`).
    pub fn platform(self) -> &'static str {
        match self {
            Arch::X86_64 => "linux/x86_64",
            Arch::Arm64 => "linux/arm64/v8",
        }
    }

    /// The Miniconda installer's architecture name.
    pub fn conda_arch(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "aarch64",
        }
    }
}

impl std::str::FromStr for Arch {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "x86_64" | "amd64" => Ok(Arch::X86_64),
            "arm64" | "aarch64" => Ok(Arch::Arm64),
            _ => Err(format!("unknown architecture {s:?} (expected x86_64 or arm64)")),
        }
    }
}

/// The instance image key: `sweb.eval.<arch>.<id lower>:<tag>`; with a namespace
/// `<ns>/sweb.eval...` and every `__` rewritten to `_1776_` (Docker Hub forbids `__`).
pub fn instance_image_name(instance_id: &str, arch: Arch, namespace: Option<&str>, tag: &str) -> String {
    let key = format!("sweb.eval.{}.{}:{tag}", arch.as_str(), instance_id.to_lowercase());
    match namespace {
        Some(ns) if !ns.is_empty() => format!("{ns}/{key}").replace("__", "_1776_"),
        _ => key,
    }
}

/// The container name for an instance in a run: `sweb.eval.<id lower>.<run_id>`, with any
/// character Docker does not allow in names replaced by `-`.
pub fn container_name(instance_id: &str, run_id: &str) -> String {
    let raw = format!("sweb.eval.{}.{run_id}", instance_id.to_lowercase());
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Split `repo[:tag]` (a registry host may carry a port: `host:5000/x:tag`).
pub fn split_tag(image: &str) -> (&str, &str) {
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[last_slash..].rfind(':') {
        Some(i) => (&image[..last_slash + i], &image[last_slash + i + 1..]),
        None => (image, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_names() {
        assert_eq!(
            instance_image_name("django__django-11099", Arch::X86_64, Some("swebench"), "latest"),
            "swebench/sweb.eval.x86_64.django_1776_django-11099:latest"
        );
        assert_eq!(
            instance_image_name("Foo__Bar-1", Arch::Arm64, None, "v2"),
            "sweb.eval.arm64.foo__bar-1:v2"
        );
        assert_eq!(
            instance_image_name("a__b-1", Arch::X86_64, Some(""), "latest"),
            "sweb.eval.x86_64.a__b-1:latest"
        );
        assert_eq!(
            container_name("Django__django-1", "run 1/x"),
            "sweb.eval.django__django-1.run-1-x"
        );
    }

    #[test]
    fn tags_split_after_the_registry_port() {
        assert_eq!(split_tag("localhost:5000/ns/img:v1"), ("localhost:5000/ns/img", "v1"));
        assert_eq!(split_tag("localhost:5000/ns/img"), ("localhost:5000/ns/img", "latest"));
        assert_eq!(split_tag("img"), ("img", "latest"));
    }

    #[test]
    fn the_dataset_image_column_uses_the_same_rule() {
        // Verified's `image` column, as published.
        assert_eq!(
            instance_image_name("astropy__astropy-12907", Arch::X86_64, Some("swebench"), "latest"),
            "swebench/sweb.eval.x86_64.astropy_1776_astropy-12907:latest"
        );
    }
}
