//! The images a lab needs, built here from Debian packages (there is no registry):
//! `dicom-range/base:<suite>` by debootstrap and import, the others by Dockerfiles in
//! `compose/<image>/` built `FROM` it. Each image carries the hash of its recipe in a label;
//! an image whose label matches is not built again. The images that carry the `lab-agent`
//! binary (agent, toolbox, pynetdicom) are tagged by their recipe hash, so two checkouts on
//! one daemon never start each other's binary; toolbox and pynetdicom are built only for
//! labs that use them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, BufReader};

use runtime::{Docker, LABEL_RECIPE};

use crate::EngineError;
use crate::progress::Progress;

const BASE_RECIPE: &str = include_str!("../../../compose/base/recipe.sh");
const ORTHANC_DOCKERFILE: &str = include_str!("../../../compose/orthanc/Dockerfile");
const AGENT_DOCKERFILE: &str = include_str!("../../../compose/agent/Dockerfile");
const TOOLBOX_DOCKERFILE: &str = include_str!("../../../compose/toolbox/Dockerfile");
/// The paper's modality: its build context, compiled in like the other recipes.
const PYNETDICOM_FILES: &[(&str, &str)] = &[
    (
        "Dockerfile",
        include_str!("../../../compose/pynetdicom/Dockerfile"),
    ),
    (
        "requirements.txt",
        include_str!("../../../compose/pynetdicom/requirements.txt"),
    ),
    (
        "paper_store.py",
        include_str!("../../../compose/pynetdicom/paper_store.py"),
    ),
    (
        "modality.py",
        include_str!("../../../compose/pynetdicom/modality.py"),
    ),
];

/// An image a lab can ask for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Image {
    Base {
        suite: &'static str,
    },
    Orthanc {
        version: String,
    },
    Agent,
    /// The attacker's toolbox: nmap, tcpdump, tshark, dcmtk and lab-agent.
    Toolbox,
    /// The paper's modality: python3, pynetdicom and pydicom from wheels, and lab-agent.
    Pynetdicom,
}

impl Image {
    pub fn tag(&self) -> String {
        match self {
            Image::Base { suite } => format!("dicom-range/base:{suite}"),
            Image::Orthanc { version } => format!("dicom-range/orthanc:{version}"),
            // Tagged by recipe: two checkouts (or worktrees) with different agents on one
            // daemon must never start each other's binary.
            Image::Agent => format!(
                "dicom-range/agent:{}",
                agent_recipe().map(|(r, _)| r.as_str()).unwrap_or("latest")
            ),
            Image::Toolbox => format!("dicom-range/toolbox:{}", with_agent(&[TOOLBOX_DOCKERFILE])),
            Image::Pynetdicom => format!(
                "dicom-range/pynetdicom:{}",
                with_agent(&PYNETDICOM_FILES.iter().map(|(_, t)| *t).collect::<Vec<_>>())
            ),
        }
    }

    fn base(&self) -> Option<Image> {
        match self {
            Image::Base { .. } => None,
            Image::Orthanc { version } => Some(Image::Base {
                suite: suite_of(version),
            }),
            Image::Agent | Image::Toolbox | Image::Pynetdicom => {
                Some(Image::Base { suite: "bookworm" })
            }
        }
    }
}

fn suite_of(orthanc_version: &str) -> &'static str {
    match orthanc_version {
        "1.12.7" => "trixie",
        _ => "bookworm",
    }
}

/// The tag suffix of an image made of `parts` and the agent binary: a hash of both.
fn with_agent(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
    }
    h.update(
        agent_recipe()
            .map(|(r, _)| r.as_str())
            .unwrap_or("latest")
            .as_bytes(),
    );
    hex::encode(&h.finalize()[..6])
}

/// The image a node runs on. Sniffers and IDSes run lab-agent.
pub fn of_node(kind: &scenario::NodeKind) -> Image {
    use scenario::{AttackerImage, ModalityImpl, NodeKind};
    match kind {
        NodeKind::Orthanc { version, .. } => Image::Orthanc {
            version: version.clone(),
        },
        // The paper's script; lab-agent there only generates studies and idles.
        NodeKind::Modality {
            implementation: ModalityImpl::Pynetdicom,
            ..
        } => Image::Pynetdicom,
        NodeKind::Attacker {
            image: AttackerImage::Toolbox,
            ..
        } => Image::Toolbox,
        // DCMTK's dcmsign signs the instances; the toolbox has it, the agent image not.
        NodeKind::Modality { sign: true, .. } => Image::Toolbox,
        _ => Image::Agent,
    }
}

/// The images a lab runs on.
pub fn needed_by(scenario: &scenario::Scenario) -> Vec<Image> {
    let mut needed = vec![Image::Agent];
    for node in &scenario.nodes {
        let img = of_node(&node.kind);
        if !needed.contains(&img) {
            needed.push(img);
        }
    }
    // The signature verifier runs DCMTK's dcmsign, in a toolbox container.
    let verifies = scenario
        .checks
        .iter()
        .any(|c| matches!(c.kind, scenario::CheckKind::PacsSignatures { .. }));
    if verifies && !needed.contains(&Image::Toolbox) {
        needed.push(Image::Toolbox);
    }
    needed
}

/// Builds what `needed` (and their bases) lack; returns the tags built.
pub async fn ensure(
    docker: &Docker,
    needed: &[Image],
    progress: Progress,
    force: bool,
) -> Result<Vec<String>, EngineError> {
    let mut order: Vec<Image> = Vec::new();
    for img in needed {
        if let Some(base) = img.base()
            && !order.contains(&base)
        {
            order.push(base);
        }
    }
    for img in needed {
        if !order.contains(img) {
            order.push(img.clone());
        }
    }
    // The common case, every image up to date, needs no lock: twenty labs starting at
    // once (or a lab while another checkout builds its own agent image) do not queue.
    if !force {
        let mut recipes: HashMap<Image, String> = HashMap::new();
        let mut all_current = true;
        for img in &order {
            let base_recipe = img.base().map(|b| recipes[&b].clone()).unwrap_or_default();
            let (recipe, _) = recipe_of(img, &base_recipe)?;
            recipes.insert(img.clone(), recipe.clone());
            if docker.image_recipe(&img.tag()).await?.as_deref() != Some(recipe.as_str()) {
                all_current = false;
                break;
            }
        }
        if all_current {
            return Ok(Vec::new());
        }
    }
    // Two labs starting at once must not build the same image twice: one builds, the
    // other waits here and then finds the image up to date.
    let _lock = build_lock(progress).await?;
    let mut built = Vec::new();
    let mut recipes: HashMap<Image, String> = HashMap::new();
    for img in &order {
        let base_recipe = img.base().map(|b| recipes[&b].clone()).unwrap_or_default();
        let (recipe, agent_bin) = recipe_of(img, &base_recipe)?;
        recipes.insert(img.clone(), recipe.clone());
        let tag = img.tag();
        if !force && docker.image_recipe(&tag).await?.as_deref() == Some(recipe.as_str()) {
            continue;
        }
        let started = std::time::Instant::now();
        progress.phase(&format!("building image {tag} (once; later runs reuse it)"));
        match img {
            Image::Base { suite } => build_base(docker, suite, &tag, &recipe, progress).await?,
            Image::Orthanc { version } => {
                let context = context_tar(&[("Dockerfile", ORTHANC_DOCKERFILE.as_bytes())])?;
                let args = HashMap::from([("SUITE".to_string(), suite_of(version).to_string())]);
                build(docker, context, &tag, &recipe, &args, progress).await?;
            }
            Image::Agent => {
                let bin_path = agent_bin.expect("agent recipe has the binary");
                let bin = std::fs::read(&bin_path)
                    .map_err(EngineError::io(format!("reading {}", bin_path.display())))?;
                let context = context_tar(&[
                    ("Dockerfile", AGENT_DOCKERFILE.as_bytes()),
                    (protocol::PROGRAM, &bin),
                ])?;
                build(docker, context, &tag, &recipe, &HashMap::new(), progress).await?;
            }
            Image::Toolbox => {
                let bin = read_agent_bin()?;
                let context = context_tar(&[
                    ("Dockerfile", TOOLBOX_DOCKERFILE.as_bytes()),
                    (protocol::PROGRAM, &bin),
                ])?;
                build(docker, context, &tag, &recipe, &HashMap::new(), progress).await?;
            }
            Image::Pynetdicom => {
                let bin = read_agent_bin()?;
                let wheels = pynetdicom_wheels(progress).await?;
                let mut files: Vec<(String, Vec<u8>)> = PYNETDICOM_FILES
                    .iter()
                    .map(|(n, t)| (n.to_string(), t.as_bytes().to_vec()))
                    .collect();
                files.push((protocol::PROGRAM.into(), bin));
                files.extend(wheels);
                let refs: Vec<(&str, &[u8])> = files
                    .iter()
                    .map(|(n, b)| (n.as_str(), b.as_slice()))
                    .collect();
                let context = context_tar(&refs)?;
                build(docker, context, &tag, &recipe, &HashMap::new(), progress).await?;
            }
        }
        progress.phase(&format!(
            "built {tag} in {:.0} s",
            started.elapsed().as_secs_f64()
        ));
        built.push(tag);
    }
    Ok(built)
}

/// The recipe hash of an image: its build inputs and its base's recipe.
fn recipe_of(img: &Image, base_recipe: &str) -> Result<(String, Option<PathBuf>), EngineError> {
    let mut h = Sha256::new();
    h.update(base_recipe.as_bytes());
    let mut agent_bin = None;
    match img {
        Image::Base { suite } => {
            h.update(BASE_RECIPE.as_bytes());
            h.update(suite.as_bytes());
        }
        Image::Orthanc { version } => {
            h.update(ORTHANC_DOCKERFILE.as_bytes());
            h.update(version.as_bytes());
            h.update(suite_of(version).as_bytes());
        }
        Image::Agent => {
            let (recipe, path) = agent_recipe()?;
            h.update(recipe.as_bytes());
            agent_bin = Some(path.clone());
        }
        Image::Toolbox | Image::Pynetdicom => {
            // The tag already hashes the recipe files and the agent binary.
            agent_recipe()?;
            h.update(img.tag().as_bytes());
        }
    }
    Ok((hex::encode(&h.finalize()[..12]), agent_bin))
}

/// The agent's own recipe (its Dockerfile and binary), hashed once per process: it names
/// the agent image's tag.
fn agent_recipe() -> Result<&'static (String, PathBuf), EngineError> {
    static RECIPE: std::sync::OnceLock<Result<(String, PathBuf), String>> =
        std::sync::OnceLock::new();
    RECIPE
        .get_or_init(|| {
            let path = agent_binary().map_err(|e| e.to_string())?;
            // Hashing a debug lab-agent (~100 MB) takes seconds; twenty runs starting
            // together did it one after the other under the build lock. The hash is
            // kept on disk per (path, size, mtime, inode) and reused while those match.
            let key = binary_key(&path);
            let memo = crate::dirs::cache_dir().join("agent-recipe");
            if let (Some(key), Ok(text)) = (&key, std::fs::read_to_string(&memo))
                && let Some((k, hash)) = text.trim().rsplit_once(' ')
                && k == key
            {
                return Ok((hash.to_string(), path));
            }
            let bin =
                std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
            let mut h = Sha256::new();
            h.update(AGENT_DOCKERFILE.as_bytes());
            h.update(&bin);
            let hash = hex::encode(&h.finalize()[..6]);
            if let Some(key) = key {
                let tmp = memo.with_extension(format!("{}", std::process::id()));
                let _ = std::fs::create_dir_all(crate::dirs::cache_dir());
                if std::fs::write(&tmp, format!("{key} {hash}\n")).is_ok() {
                    let _ = std::fs::rename(&tmp, &memo);
                }
            }
            Ok((hash, path))
        })
        .as_ref()
        .map_err(|e| EngineError::Image(e.clone()))
}

fn read_agent_bin() -> Result<Vec<u8>, EngineError> {
    let (_, path) = agent_recipe()?;
    std::fs::read(path).map_err(EngineError::io(format!("reading {}", path.display())))
}

/// pynetdicom's and pydicom's wheels (pure Python), as `wheels/<file>` entries of the
/// build context. They are fetched once by the host's own pip into
/// `~/.cache/dicom-range/wheels`, checked against the hashes in requirements.txt, and
/// installed in the image with `--no-index`: build containers here cannot verify PyPI's
/// certificate (a TLS-intercepting proxy only the host trusts; compose/pynetdicom/README.md).
async fn pynetdicom_wheels(progress: Progress) -> Result<Vec<(String, Vec<u8>)>, EngineError> {
    let dir = crate::dirs::cache_dir().join("wheels");
    std::fs::create_dir_all(&dir)
        .map_err(EngineError::io(format!("creating {}", dir.display())))?;
    let requirements: Vec<(String, String)> = PYNETDICOM_FILES
        .iter()
        .find(|(n, _)| *n == "requirements.txt")
        .map(|(_, t)| t)
        .into_iter()
        .flat_map(|t| t.lines())
        .filter_map(|l| {
            let l = l.trim();
            let (pin, hash) = l.split_once(" --hash=sha256:")?;
            let (name, version) = pin.split_once("==")?;
            Some((
                format!("{name}-{version}-py3-none-any.whl"),
                hash.trim().to_string(),
            ))
        })
        .collect();
    let have = |file: &str, want: &str| {
        std::fs::read(dir.join(file))
            .map(|b| hex::encode(Sha256::digest(&b)) == want)
            .unwrap_or(false)
    };
    if !requirements.iter().all(|(f, h)| have(f, h)) {
        let req = dir.join("requirements.txt");
        let text = PYNETDICOM_FILES
            .iter()
            .find(|(n, _)| *n == "requirements.txt")
            .map(|(_, t)| *t)
            .unwrap_or_default();
        std::fs::write(&req, text)
            .map_err(EngineError::io(format!("writing {}", req.display())))?;
        progress.detail("fetching pynetdicom and pydicom wheels with the host's pip (once)");
        let python = which("python3").ok_or_else(|| {
            EngineError::Image(
                "python3 is not installed on this host; its pip fetches the pynetdicom wheels\n  fix: apt-get install -y python3-pip".into(),
            )
        })?;
        run_streamed(
            tokio::process::Command::new(python)
                .args(["-m", "pip", "download", "--only-binary=:all:", "--no-deps"])
                .args(["--require-hashes", "--disable-pip-version-check", "-d"])
                .arg(&dir)
                .arg("-r")
                .arg(&req),
            "pip download (pynetdicom wheels)",
            progress,
        )
        .await?;
    }
    let mut out = Vec::new();
    for (file, hash) in &requirements {
        let bytes = std::fs::read(dir.join(file)).map_err(EngineError::io(format!(
            "reading {}",
            dir.join(file).display()
        )))?;
        if hex::encode(Sha256::digest(&bytes)) != *hash {
            return Err(EngineError::Image(format!(
                "{} does not match its hash in compose/pynetdicom/requirements.txt\n  fix: delete it; the next build fetches it again",
                dir.join(file).display()
            )));
        }
        out.push((format!("wheels/{file}"), bytes));
    }
    if out.is_empty() {
        return Err(EngineError::Image(
            "compose/pynetdicom/requirements.txt pins no wheel (name==version --hash=sha256:...)"
                .into(),
        ));
    }
    Ok(out)
}

/// The `lab-agent` binary copied into the agent image: `$LAB_AGENT_BIN`, or the one built
/// next to this `lab` binary (cargo builds both into the same folder).
pub fn agent_binary() -> Result<PathBuf, EngineError> {
    if let Some(p) = std::env::var_os("LAB_AGENT_BIN") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(EngineError::Image(format!(
                "LAB_AGENT_BIN={} is not a file",
                p.display()
            )))
        };
    }
    let exe = std::env::current_exe().map_err(EngineError::io("finding the lab binary"))?;
    // Tests run from target/<profile>/deps; the binaries sit one folder up.
    for dir in exe.ancestors().skip(1).take(2) {
        let candidate = dir.join(protocol::PROGRAM);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(EngineError::Image(format!(
        "the lab-agent binary is not next to {}\n  fix: build both with `cargo build --release` (or set LAB_AGENT_BIN)",
        exe.display()
    )))
}

async fn build_base(
    docker: &Docker,
    suite: &str,
    tag: &str,
    recipe: &str,
    progress: Progress,
) -> Result<(), EngineError> {
    if which("debootstrap").is_none() {
        return Err(EngineError::Image(
            "debootstrap is not installed; it makes the base image from Debian packages\n  fix: apt-get install -y debootstrap".into(),
        ));
    }
    let work_dir = build_dir(&format!("dicom-range-{suite}"))?;
    let work = work_dir.path();
    let rootfs = work.join("rootfs");
    let cache = crate::dirs::cache_dir().join("debootstrap").join(suite);
    let script = work.join("recipe.sh");
    std::fs::write(&script, BASE_RECIPE).map_err(EngineError::io("writing the base recipe"))?;
    progress.detail(&format!(
        "debootstrap --variant=minbase {suite} (about a minute)"
    ));
    let result = async {
        run_streamed(
            tokio::process::Command::new("sh")
                .arg(&script)
                .arg(suite)
                .arg(&rootfs)
                .arg(&cache),
            "debootstrap",
            progress,
        )
        .await?;
        let tar = work.join("rootfs.tar");
        run_streamed(
            tokio::process::Command::new("tar")
                .arg("-C")
                .arg(&rootfs)
                .arg("--numeric-owner")
                .arg("-cf")
                .arg(&tar)
                .arg("."),
            "tar",
            progress,
        )
        .await?;
        progress.detail(&format!("importing {tag}"));
        docker
            .import_rootfs(
                &tar,
                tag,
                vec![
                    format!("LABEL {LABEL_RECIPE}={recipe}"),
                    "CMD [\"/bin/bash\"]".into(),
                ],
            )
            .await?;
        Ok::<(), EngineError>(())
    }
    .await;
    drop(work_dir);
    result
}

async fn build(
    docker: &Docker,
    context: Vec<u8>,
    tag: &str,
    recipe: &str,
    args: &HashMap<String, String>,
    progress: Progress,
) -> Result<(), EngineError> {
    let labels = HashMap::from([(LABEL_RECIPE.to_string(), recipe.to_string())]);
    let mut show = |line: &str| progress.detail(line);
    docker
        .build_image(context, tag, &labels, args, &mut show)
        .await?;
    Ok(())
}

fn context_tar(files: &[(&str, &[u8])]) -> Result<Vec<u8>, EngineError> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(if *name == protocol::PROGRAM {
            0o755
        } else {
            0o644
        });
        header.set_cksum();
        b.append_data(&mut header, name, *data)
            .map_err(EngineError::io("packing a build context"))?;
    }
    b.into_inner()
        .map_err(EngineError::io("packing a build context"))
}

async fn run_streamed(
    cmd: &mut tokio::process::Command,
    what: &str,
    progress: Progress,
) -> Result<(), EngineError> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(EngineError::io(format!("starting {what}")))?;
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let tail = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let pump = |r: Box<dyn tokio::io::AsyncRead + Unpin + Send>| {
        let tail = tail.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(r).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                progress.detail(&line);
                let mut t = tail.lock().expect("tail");
                t.push(line);
                if t.len() > 15 {
                    t.remove(0);
                }
            }
        })
    };
    let a = pump(Box::new(stdout));
    let b = pump(Box::new(stderr));
    let status = child
        .wait()
        .await
        .map_err(EngineError::io(format!("waiting for {what}")))?;
    let _ = tokio::join!(a, b);
    if status.success() {
        Ok(())
    } else {
        let tail = tail.lock().expect("tail").join("\n");
        Err(EngineError::Image(format!(
            "{what} failed ({status}):\n{tail}"
        )))
    }
}

/// An exclusive lock on image building, held until dropped (the file stays). It is in
/// the same private folder as the plan lock (`lock.rs`), never in a shared one.
async fn build_lock(progress: Progress) -> Result<std::fs::File, EngineError> {
    let path = crate::lock::lock_dir()?.join("images.lock");
    let file = crate::lock::open_lock_file(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            progress.phase("waiting for another lab that is building images");
            tokio::task::spawn_blocking(move || file.lock().map(|()| file))
                .await
                .expect("lock task")
                .map_err(EngineError::io(format!("locking {}", path.display())))
        }
        Err(std::fs::TryLockError::Error(e)) => {
            Err(EngineError::io(format!("locking {}", path.display()))(e))
        }
    }
}

fn which(cmd: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(cmd))
        .find(|p| p.is_file())
}

/// What identifies one build of a file without reading it: path, size, mtime, inode, and
/// the Dockerfile it goes with (a new recipe makes a new key).
fn binary_key(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    let mut h = Sha256::new();
    h.update(AGENT_DOCKERFILE.as_bytes());
    Some(
        format!(
            "{}|{}|{}.{}|{}|{}",
            path.display(),
            m.len(),
            m.mtime(),
            m.mtime_nsec(),
            m.ino(),
            hex::encode(&h.finalize()[..6])
        )
        .replace(' ', "%20"),
    )
}

/// A private work folder for a build, removed when dropped: made by mkdtemp (a name no
/// one can guess, mode 0700). A predictable `/tmp/<prefix>-<pid>` can be made in advance
/// by any local user (a symbolic link there, and root's debootstrap writes where it
/// points) and read by all while the build runs.
fn build_dir(prefix: &str) -> Result<tempfile::TempDir, EngineError> {
    tempfile::Builder::new()
        .prefix(&format!("{prefix}-"))
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir()
        .map_err(EngineError::io(format!(
            "creating a build folder in {}",
            std::env::temp_dir().display()
        )))
}

/// `lab images build`: builds every image a lab of the catalog (`labs`, as
/// [`crate::catalog::list`] finds it) needs, the agent always; labs that do not parse are
/// skipped (`lab validate` reports them). Returns the tags built.
pub async fn build_catalog(
    labs: Option<&Path>,
    progress: Progress,
    force: bool,
) -> Result<Vec<String>, EngineError> {
    let docker = Docker::connect().await?;
    let mut all = vec![Image::Agent];
    for path in crate::catalog::list(labs) {
        if let Ok(s) = scenario::load(&path, &Default::default()) {
            for img in needed_by(&s) {
                if !all.contains(&img) {
                    all.push(img);
                }
            }
        }
    }
    ensure(&docker, &all, progress, force).await
}

/// What `lab images prune` did.
#[derive(Debug, Default)]
pub struct Pruned {
    pub removed: Vec<String>,
    /// Old images a container still uses (left alone).
    pub in_use: Vec<String>,
}

/// Removes the images dicom-range built that this build of `lab` would not run: agent,
/// toolbox and pynetdicom images of older recipes (each rebuild of lab-agent makes new
/// ones), and dangling leftovers of rebuilt images. Images a container uses stay.
pub async fn prune() -> Result<Pruned, EngineError> {
    let docker = Docker::connect().await?;
    let mut current: Vec<String> = ["bookworm", "trixie"]
        .map(|suite| Image::Base { suite }.tag())
        .to_vec();
    current.extend(scenario::ORTHANC_VERSIONS.iter().map(|v| {
        Image::Orthanc {
            version: v.to_string(),
        }
        .tag()
    }));
    // The agent's recipe names the current agent, toolbox and pynetdicom tags; without the
    // binary nothing can be told stale, so nothing is removed.
    agent_recipe()?;
    current.extend([Image::Agent, Image::Toolbox, Image::Pynetdicom].map(|i| i.tag()));
    let mut out = Pruned::default();
    for runtime::RecipeImage { id, tags, .. } in docker.recipe_images().await? {
        let stale: Vec<&String> = tags.iter().filter(|t| !current.contains(t)).collect();
        let targets: Vec<String> = if tags.is_empty() {
            vec![id.clone()]
        } else {
            stale.iter().map(|t| t.to_string()).collect()
        };
        for t in targets {
            if docker.remove_image(&t).await? {
                out.removed.push(if tags.is_empty() {
                    format!(
                        "<dangling {}>",
                        id.trim_start_matches("sha256:").get(..12).unwrap_or(&id)
                    )
                } else {
                    t
                });
            } else {
                out.in_use.push(t);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    /// A build folder is private (0700) and its name cannot be guessed from the pid, so no
    /// one can plant it (or a link in its place) before the build.
    #[test]
    fn build_folders_are_private_and_unpredictable() {
        let prefix = "dicom-range-test";
        let a = build_dir(prefix).unwrap();
        let b = build_dir(prefix).unwrap();
        for d in [&a, &b] {
            let meta = std::fs::symlink_metadata(d.path()).unwrap();
            assert!(meta.is_dir());
            assert_eq!(meta.mode() & 0o7777, 0o700, "{}", d.path().display());
            let name = d.path().file_name().unwrap().to_string_lossy().into_owned();
            assert!(name.starts_with(&format!("{prefix}-")), "{name}");
            assert_ne!(name, format!("{prefix}-{}", std::process::id()));
        }
        assert_ne!(a.path(), b.path());
        let gone = a.path().to_path_buf();
        drop(a);
        assert!(!gone.exists(), "removed when dropped");
    }
}
