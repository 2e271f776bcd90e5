//! Pulling an image from its registry, with byte progress summed over layers.

use std::collections::HashMap;
use std::time::Duration;

use bollard::query_parameters::CreateImageOptionsBuilder;
use futures::StreamExt as _;

use super::naming::split_tag;
use super::{ImageError, ImageProgress};
use crate::sandbox::DockerEnv;

/// Longest silence between two progress messages of a pull.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Pull `image` (`repo[:tag]`). Errors name the image and carry the registry's message.
pub async fn pull_image(env: &DockerEnv, image: &str, progress: &dyn ImageProgress) -> Result<(), ImageError> {
    let (repo, tag) = split_tag(image);
    let opts = CreateImageOptionsBuilder::default().from_image(repo).tag(tag).build();
    let mut stream = env.docker().create_image(Some(opts), None, None);
    let mut layers: HashMap<String, (u64, u64)> = HashMap::new();
    progress.status(image, "pulling");
    loop {
        let next = match tokio::time::timeout(IDLE_TIMEOUT, stream.next()).await {
            Err(_) => {
                return Err(ImageError::PullFailed {
                    image: image.to_owned(),
                    message: format!("no progress for {} s", IDLE_TIMEOUT.as_secs()),
                });
            }
            Ok(None) => break,
            Ok(Some(item)) => item,
        };
        let info = next.map_err(|e| ImageError::PullFailed {
            image: image.to_owned(),
            message: pull_message(&e),
        })?;
        if let (Some(id), Some(detail)) = (&info.id, &info.progress_detail)
            && let (Some(cur), Some(total)) = (detail.current, detail.total)
            && info.status.as_deref() == Some("Downloading")
        {
            layers.insert(id.clone(), (cur.max(0) as u64, total.max(0) as u64));
            let (done, all) = layers.values().fold((0, 0), |(a, b), (c, t)| (a + c, b + t));
            progress.bytes(image, done, all);
        } else if let Some(status) = &info.status {
            progress.status(image, status);
        }
    }
    Ok(())
}

fn pull_message(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { status_code, message } => {
            format!("{message} (HTTP {status_code})")
        }
        other => other.to_string(),
    }
}
