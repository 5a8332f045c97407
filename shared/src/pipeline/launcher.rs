//! The local job launcher: runs the `executor` binary as a child process with
//! the same environment contract as the Kubernetes Job. Deleting a job sends
//! SIGTERM (what Kubernetes sends), then kills it after a grace period.

use std::{
    collections::HashMap,
    path::PathBuf,
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use super::{BoxFuture, JobLauncher, JobSpec, JobState, Launch};

pub struct ProcessLauncher {
    executor: PathBuf,
    /// Running jobs by name, with their process id.
    jobs: Arc<Mutex<HashMap<String, u32>>>,
    /// Extra environment for every job (LLM settings, the http allow-list).
    extra_env: Vec<(String, String)>,
    /// Where each job's stderr goes (`<dir>/<job>.log`); `None` discards it.
    /// Never the parent's own stderr: a child outliving a test would hold its pipe open.
    log_dir: Option<PathBuf>,
}

impl ProcessLauncher {
    pub fn new(
        executor: PathBuf,
        extra_env: Vec<(String, String)>,
        log_dir: Option<PathBuf>,
    ) -> Self {
        Self {
            executor,
            jobs: Arc::default(),
            extra_env,
            log_dir,
        }
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
            let mut child = tokio::process::Command::new(&self.executor)
                .envs(self.extra_env.iter().cloned())
                .envs(job.env.iter().cloned())
                .env("RUN_TIMEOUT_SECONDS", job.deadline.as_secs().to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(self.stderr_for(&job.name))
                // A job never outlives the stack that started it.
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| anyhow::anyhow!("cannot start {}: {e}", self.executor.display()))?;
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
