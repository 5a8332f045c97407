//! The local job launcher: runs the `executor` binary as a child process with
//! the same environment contract as the Kubernetes Job, and nothing of the
//! stack's own environment (no database URL, no JWT secret). The callback token is
//! a file only the stack's user can read (in a private directory), named by
//! `CALLBACK_TOKEN_FILE` and removed when the job ends, as the Job's Secret
//! goes with the Job. Deleting a job sends SIGTERM (what Kubernetes sends),
//! then kills it after a grace period.

use std::{
    collections::HashMap,
    path::PathBuf,
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use run_protocol::env;
use secrecy::ExposeSecret;

use crate::runs::{BoxFuture, JobLauncher, JobSpec, JobState, Launch};

pub struct ProcessLauncher {
    executor: PathBuf,
    /// Running jobs by name, with their process id.
    jobs: Arc<Mutex<HashMap<String, u32>>>,
    /// Extra environment for every job (LLM settings, the http allow-list).
    extra_env: Vec<(String, String)>,
    /// Where each job's stderr goes (`<dir>/<job>.log`); `None` discards it.
    /// Never the parent's own stderr: a child outliving a test would hold its pipe open.
    log_dir: Option<PathBuf>,
    /// A private directory (0700) of callback token files (0600), one per job.
    token_dir: PathBuf,
}

impl ProcessLauncher {
    pub fn new(
        executor: PathBuf,
        extra_env: Vec<(String, String)>,
        log_dir: Option<PathBuf>,
    ) -> Self {
        let token_dir = std::env::temp_dir().join(format!(
            "saasit-tokens-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        Self {
            executor,
            jobs: Arc::default(),
            extra_env,
            log_dir,
            token_dir,
        }
    }

    /// Writes a job's token to a file only this user can read.
    fn write_token(&self, job: &JobSpec) -> anyhow::Result<PathBuf> {
        use std::{
            io::Write,
            os::unix::fs::{DirBuilderExt, OpenOptionsExt},
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.token_dir)?;
        let path = self.token_dir.join(format!("{}.token", job.name));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(job.callback_token.expose_secret().as_bytes())?;
        Ok(path)
    }

    fn stderr_for(&self, job: &str) -> Stdio {
        let Some(dir) = &self.log_dir else {
            return Stdio::null();
        };
        std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::File::create(dir.join(format!("{job}.log"))))
            .map_or_else(|_| Stdio::null(), Stdio::from)
    }

    /// Names of jobs still running.
    pub fn running(&self) -> Vec<String> {
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    /// The process id of a running job (fault tests kill it).
    pub fn pid(&self, name: &str) -> Option<u32> {
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .copied()
    }
}

/// The few variables of the stack's environment a child process needs to
/// run at all (where programs and temporary files are, locale, logging).
fn inherited() -> Vec<(String, String)> {
    [
        "PATH",
        "HOME",
        "TMPDIR",
        "LANG",
        "RUST_LOG",
        "RUST_BACKTRACE",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
    ]
    .iter()
    .filter_map(|k| std::env::var(k).ok().map(|v| ((*k).to_owned(), v)))
    .collect()
}

impl Drop for ProcessLauncher {
    fn drop(&mut self) {
        // Tokens of jobs still running die with the stack that issued them.
        let _ = std::fs::remove_dir_all(&self.token_dir);
    }
}

fn signal(pid: u32, sig: &str) {
    let _ = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

impl JobLauncher for ProcessLauncher {
    fn launch(&self, job: JobSpec) -> BoxFuture<'_, anyhow::Result<Launch>> {
        Box::pin(async move {
            let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
            if jobs.contains_key(&job.name) {
                return Ok(Launch::AlreadyExists);
            }
            let token_file = self
                .write_token(&job)
                .map_err(|e| anyhow::anyhow!("cannot write the callback token file: {e}"))?;
            let mut child = tokio::process::Command::new(&self.executor)
                // Nothing of the stack's own environment (its database URL,
                // its JWT secret) reaches a job: only what a Job would get.
                .env_clear()
                .envs(inherited())
                .envs(self.extra_env.iter().cloned())
                .envs(job.env.iter().cloned())
                .env(env::RUN_TIMEOUT_SECONDS, job.deadline.as_secs().to_string())
                .env(env::CALLBACK_TOKEN_FILE, &token_file)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(self.stderr_for(&job.name))
                // A job never outlives the stack that started it.
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| {
                    let _ = std::fs::remove_file(&token_file);
                    anyhow::anyhow!("cannot start {}: {e}", self.executor.display())
                })?;
            let pid = child.id().unwrap_or_default();
            jobs.insert(job.name.clone(), pid);
            drop(jobs);
            let (jobs, name, deadline) = (self.jobs.clone(), job.name.clone(), job.deadline);
            tokio::spawn(async move {
                // activeDeadlineSeconds: the job never outlives its run's deadline.
                if tokio::time::timeout(deadline + Duration::from_secs(30), child.wait())
                    .await
                    .is_err()
                {
                    let _ = child.kill().await;
                }
                // The token goes with the job.
                let _ = std::fs::remove_file(&token_file);
                jobs.lock().unwrap_or_else(|p| p.into_inner()).remove(&name);
            });
            Ok(Launch::Created)
        })
    }

    fn delete(&self, name: &str) -> BoxFuture<'_, anyhow::Result<()>> {
        let name = name.to_owned();
        Box::pin(async move {
            let pid = self
                .jobs
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&name)
                .copied();
            if let Some(pid) = pid {
                signal(pid, "-TERM");
                let jobs = self.jobs.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    if jobs
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .contains_key(&name)
                    {
                        signal(pid, "-KILL");
                    }
                });
            }
            Ok(())
        })
    }

    fn state(&self, name: &str) -> BoxFuture<'_, anyhow::Result<JobState>> {
        // A child process is running from the moment it is spawned; once it
        // exits it is forgotten.
        let running = self
            .jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(name);
        Box::pin(async move {
            Ok(if running {
                JobState::Running
            } else {
                JobState::Missing
            })
        })
    }
}
