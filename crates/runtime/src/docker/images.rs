//! Images: the recipe label of one, importing a root file system, building from a
//! Dockerfile context, listing and removing what dicom-range built.

use std::collections::HashMap;
use std::path::Path;

use bollard::query_parameters::{BuildImageOptionsBuilder, CreateImageOptionsBuilder};
use bytes::Bytes;
use futures_util::StreamExt;

use super::Docker;
use crate::LABEL_RECIPE;
use crate::error::{Context, RuntimeError};

/// An image dicom-range built (it carries a recipe label).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipeImage {
    pub id: String,
    /// Its tags; empty when it is dangling.
    pub tags: Vec<String>,
    /// Bytes.
    pub size: i64,
}

impl Docker {
    /// The recipe hash an image was built from, or None if there is no such image.
    pub async fn image_recipe(&self, image: &str) -> Result<Option<String>, RuntimeError> {
        match self.api.inspect_image(image).await {
            Ok(info) => Ok(Some(
                info.config
                    .and_then(|c| c.labels)
                    .and_then(|l| l.get(LABEL_RECIPE).cloned())
                    .unwrap_or_default(),
            )),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(e).context(|| format!("inspecting image {image}")),
        }
    }

    /// Imports a root file system tarball as an image (`docker import`), with Dockerfile
    /// instructions such as `LABEL k=v` or `CMD [...]` applied.
    pub async fn import_rootfs(
        &self,
        tar: &Path,
        image: &str,
        changes: Vec<String>,
    ) -> Result<(), RuntimeError> {
        let (repo, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
        let file = tokio::fs::File::open(tar)
            .await
            .map_err(|source| RuntimeError::Io {
                context: format!("opening {}", tar.display()),
                source,
            })?;
        let body = bollard::body_try_stream(tokio_util::io::ReaderStream::new(file));
        let options = CreateImageOptionsBuilder::new()
            .from_src("-")
            .repo(repo)
            .tag(tag)
            .changes(changes)
            .build();
        let mut stream = self.api.create_image(Some(options), Some(body), None);
        while let Some(item) = stream.next().await {
            item.map_err(|e| RuntimeError::Build {
                image: image.into(),
                message: e.to_string(),
            })?;
        }
        Ok(())
    }

    /// Builds an image from a tar of its build context; `progress` gets each line of output.
    pub async fn build_image(
        &self,
        context_tar: Vec<u8>,
        image: &str,
        labels: &HashMap<String, String>,
        build_args: &HashMap<String, String>,
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(), RuntimeError> {
        let options = BuildImageOptionsBuilder::new()
            .dockerfile("Dockerfile")
            .t(image)
            .rm(true)
            .forcerm(true)
            .labels(labels)
            .buildargs(build_args)
            .build();
        let mut stream = self.api.build_image(
            options,
            None,
            Some(bollard::body_full(Bytes::from(context_tar))),
        );
        let mut tail: Vec<String> = Vec::new();
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| RuntimeError::Build {
                image: image.into(),
                message: format!("{e}\n{}", tail.join("")),
            })?;
            if let Some(line) = info.stream {
                progress(&line);
                tail.push(line);
                if tail.len() > 20 {
                    tail.remove(0);
                }
            }
            if let Some(err) = info.error_detail.and_then(|d| d.message) {
                return Err(RuntimeError::Build {
                    image: image.into(),
                    message: format!("{err}\n{}", tail.join("")),
                });
            }
        }
        Ok(())
    }

    /// Every image built by dicom-range (labelled with a recipe): its id, tags (empty when
    /// dangling) and size in bytes.
    pub async fn recipe_images(&self) -> Result<Vec<RecipeImage>, RuntimeError> {
        let filters = HashMap::from([("label", vec![LABEL_RECIPE])]);
        let opts = bollard::query_parameters::ListImagesOptionsBuilder::default()
            .filters(&filters)
            .build();
        let images = self
            .api
            .list_images(Some(opts))
            .await
            .context(|| "listing dicom-range images".to_string())?;
        Ok(images
            .into_iter()
            .map(|i| {
                let tags = i
                    .repo_tags
                    .into_iter()
                    .filter(|t| t != "<none>:<none>")
                    .collect();
                RecipeImage {
                    id: i.id,
                    tags,
                    size: i.size,
                }
            })
            .collect())
    }

    /// Removes an image (a tag, or an id when dangling). `Ok(false)` when a container still
    /// uses it: it is left alone.
    pub async fn remove_image(&self, image: &str) -> Result<bool, RuntimeError> {
        match self
            .api
            .remove_image(
                image,
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => Ok(false),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(true),
            Err(e) => Err(e).context(|| format!("removing image {image}")),
        }
    }
}
