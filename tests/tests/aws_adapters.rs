//! Contract tests of the pipeline's ports: each contract runs against the
//! local adapter and the AWS adapter (SQS, S3, Step Functions on moto; EKS on
//! moto plus a fake Kubernetes API), and the Lambda handlers run the real
//! state machine (`infra/statemachine/execution.asl.json`) in moto's execute mode.
//! Every run a test creates ends in a terminal state.

use std::{sync::Arc, time::Duration};

use saasit_tests::{fake_kube::FakeKube, json, moto::Moto, spawn_app, spawn_stack, TestApp};
use serde_json::Value;
use shared::{
    db::executions::{self, Ending},
    protocol::{ExecutionStatus, RunStatus},
    realtime::publish::BroadcastPublisher,
    runs::{
        aws::{
            eks::{EksLauncher, EksTarget},
            s3::S3Blobs,
            sfn::SfnTracker,
            sqs::SqsQueue,
        },
        dispatch::Outcome,
        end::EndedBy,
        local::{launcher::ProcessLauncher, queue::LocalQueue, tracker::LocalTracker},
        BlobStore, BoxStream, JobLauncher, JobSpec, Launch, Ports, RunSettings, RunTracker, Runs,
        TrackedRun,
    },
    tier::{Priority, Tier},
};
use uuid::Uuid;

const ASL: &str = include_str!("../../infra/statemachine/execution.asl.json");
const ROLE: &str = "arn:aws:iam::123456789012:role/saasit-tracker";

// ------------------------------------------------------------------ queue

#[tokio::test]
async fn queue_contract_priorities_and_delays_local_and_sqs() {
    // Local: one in-process queue, higher classes first, delays honoured.
    let local = LocalQueue::new();
    let (low, std_, high, later) = (
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
    );
    use shared::runs::ExecutionQueue;
    local
        .send(later, Priority::High, Duration::from_millis(300))
        .await
        .expect("send");
    local
        .send(low, Priority::Low, Duration::ZERO)
        .await
        .expect("send");
    local
        .send(std_, Priority::Standard, Duration::ZERO)
        .await
        .expect("send");
    local
        .send(high, Priority::High, Duration::ZERO)
        .await
        .expect("send");
    let order: Vec<Uuid> = [local.next().await, local.next().await, local.next().await]
        .iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(order, vec![high, std_, low]);
    assert_eq!(local.next().await.0, later, "delayed, then delivered");

    // SQS: one queue per class; a message lands in its class only; delays hold it back.
    let moto = Moto::start().await;
    let urls = [
        moto.queue("exec-high").await,
        moto.queue("exec-standard").await,
        moto.queue("exec-low").await,
    ];
    let q = SqsQueue::from_config(&moto.sdk, urls.clone());
    q.send(high, Priority::High, Duration::ZERO)
        .await
        .expect("send");
    q.send(low, Priority::Low, Duration::ZERO)
        .await
        .expect("send");
    // Delays and deferrals of a few seconds: a loaded CI machine must still
    // look before they end.
    q.send(later, Priority::Standard, Duration::from_secs(4))
        .await
        .expect("send");
    let got = moto.receive(&urls[0], Duration::ZERO).await;
    assert_eq!(bodies(&got), vec![high]);
    assert_eq!(
        q.priority_of(got.records[0].event_source_arn.as_deref().expect("arn")),
        Some(Priority::High)
    );
    assert_eq!(
        bodies(&moto.receive(&urls[2], Duration::ZERO).await),
        vec![low]
    );
    assert!(
        moto.receive(&urls[1], Duration::ZERO)
            .await
            .records
            .is_empty(),
        "still delayed"
    );
    tokio::time::sleep(Duration::from_millis(4_200)).await;
    let delayed = moto.receive(&urls[1], Duration::from_secs(4)).await;
    assert_eq!(bodies(&delayed), vec![later]);

    // Deferral: a received message hidden for a while comes back after it.
    let receipt = delayed.records[0].receipt_handle.clone().expect("receipt");
    q.defer(Priority::Standard, &receipt, Duration::from_secs(4))
        .await
        .expect("defer");
    assert!(
        moto.receive(&urls[1], Duration::ZERO)
            .await
            .records
            .is_empty(),
        "hidden"
    );
    let back = moto.receive(&urls[1], Duration::from_secs(10)).await;
    assert_eq!(bodies(&back), vec![later]);
    assert_eq!(
        back.records[0]
            .attributes
            .get("ApproximateReceiveCount")
            .map(String::as_str),
        Some("2")
    );
}

fn bodies(e: &aws_lambda_events::sqs::SqsEvent) -> Vec<Uuid> {
    e.records
        .iter()
        .filter_map(|r| shared::runs::aws::sqs::execution_of(r.body.as_deref()?))
        .collect()
}

// ------------------------------------------------------------------ blobs

/// Upload through a presigned PUT, store with `put_stream` (small, and
/// larger than a part), read them back through presigned GETs; a failed
/// stream stores nothing.
async fn blob_contract(blobs: &dyn BlobStore) {
    let http = reqwest::Client::new();
    let key = format!("executions/{}/report.json", Uuid::now_v7());
    let put = blobs
        .upload_url(&key, "application/octet-stream", Duration::from_secs(300))
        .await
        .expect("upload url");
    let r = http
        .put(&put)
        .header("content-type", "application/octet-stream")
        .body("{\"ok\":true}")
        .send()
        .await
        .expect("PUT");
    assert!(r.status().is_success(), "PUT {put}: {}", r.status());
    let get = blobs
        .download_url(&key, Duration::from_secs(300))
        .await
        .expect("download url");
    let body = http
        .get(&get)
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("text");
    assert_eq!(body, "{\"ok\":true}");

    let bundle = format!("executions/{}/execution-log.ndjson", Uuid::now_v7());
    let chunks = |parts: Vec<Vec<u8>>| -> BoxStream<'static, anyhow::Result<Vec<u8>>> {
        Box::pin(futures_util::stream::iter(parts.into_iter().map(Ok)))
    };
    let size = blobs
        .put_stream(
            &bundle,
            "application/x-ndjson",
            chunks(vec![b"{\"seq\":1}\n".to_vec()]),
        )
        .await
        .expect("put");
    assert_eq!(size, 10);
    blobs
        .put_stream(
            &bundle,
            "application/x-ndjson",
            chunks(vec![b"{\"seq\":1}\n".to_vec(), b"{\"seq\":2}\n".to_vec()]),
        )
        .await
        .expect("put again replaces");
    let get = blobs
        .download_url(&bundle, Duration::from_secs(300))
        .await
        .expect("url");
    let r = http.get(&get).send().await.expect("GET");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.expect("text").lines().count(), 2);

    // Larger than a part: 20 MiB in 1 MiB chunks (a multipart upload on S3),
    // read back whole and in order.
    let big = format!("executions/{}/execution-log.ndjson", Uuid::now_v7());
    let parts: Vec<Vec<u8>> = (0..20u8).map(|i| vec![b'a' + i; 1 << 20]).collect();
    let size = blobs
        .put_stream(&big, "application/x-ndjson", chunks(parts.clone()))
        .await
        .expect("put big");
    assert_eq!(size, 20 << 20);
    let get = blobs
        .download_url(&big, Duration::from_secs(300))
        .await
        .expect("url");
    let body = http
        .get(&get)
        .send()
        .await
        .expect("GET")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(body.len(), 20 << 20);
    assert!(body.as_ref() == parts.concat().as_slice(), "the same bytes");

    // A stream that fails halfway leaves no object behind.
    let broken = format!("executions/{}/execution-log.ndjson", Uuid::now_v7());
    let failing: BoxStream<'static, anyhow::Result<Vec<u8>>> = Box::pin(
        futures_util::stream::iter((0..12).map(|_| Ok(vec![b'x'; 1 << 20])).chain(
            std::iter::once(Err(anyhow::anyhow!("the database went away"))),
        )),
    );
    assert!(blobs
        .put_stream(&broken, "application/x-ndjson", failing)
        .await
        .is_err());
    let get = blobs
        .download_url(&broken, Duration::from_secs(300))
        .await
        .expect("url");
    let r = http.get(&get).send().await.expect("GET");
    assert_eq!(r.status().as_u16(), 404, "nothing was stored");

    // Sizes of what is stored, none for what is not; a delete removes an
    // object, and deleting it again is no error.
    assert_eq!(blobs.size_of(&key).await.expect("size"), Some(11));
    assert_eq!(blobs.size_of(&big).await.expect("size"), Some(20 << 20));
    assert_eq!(blobs.size_of(&broken).await.expect("size"), None);
    blobs.delete(&key).await.expect("delete");
    assert_eq!(blobs.size_of(&key).await.expect("size"), None);
    blobs.delete(&key).await.expect("delete again");
    let get = blobs
        .download_url(&key, Duration::from_secs(300))
        .await
        .expect("url");
    assert_eq!(
        http.get(&get).send().await.expect("GET").status().as_u16(),
        404
    );
}

#[tokio::test]
async fn blob_contract_local_and_s3() {
    let s = spawn_stack().await;
    let local = s.runs.clone();
    blob_contract(local.blobs.as_ref()).await;

    let moto = Moto::start().await;
    moto.s3()
        .create_bucket()
        .bucket("saasit-blobs")
        .send()
        .await
        .expect("bucket");
    blob_contract(&S3Blobs::from_config(&moto.sdk, "saasit-blobs", true)).await;
}

// ------------------------------------------------------------------ launcher

const TOKEN: &str = "execution-scoped-token-7f3a";

async fn launcher_contract(launcher: &dyn JobLauncher) {
    let id = Uuid::now_v7();
    let job = JobSpec {
        name: format!("exec-{id}"),
        execution_id: id,
        tier: Tier::Starter,
        env: vec![("EXECUTION_ID".into(), id.to_string())],
        callback_token: TOKEN.to_owned().into(),
        resources: Tier::Starter.limits().resources,
        deadline: Duration::from_secs(60),
    };
    assert_eq!(
        launcher.launch(job.clone()).await.expect("launch"),
        Launch::Created
    );
    assert_eq!(
        launcher.launch(job.clone()).await.expect("launch again"),
        Launch::AlreadyExists,
        "a redelivery finds the job"
    );
    launcher.delete(&job.name).await.expect("delete");
    launcher
        .delete(&job.name)
        .await
        .expect("deleting a missing job is fine");
}

#[tokio::test]
async fn launcher_contract_local_process_and_eks() {
    // Local: a child process stands for the Job (a script that outlives the test's calls).
    let dir = std::env::temp_dir().join(format!("saasit-launch-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let script = dir.join("long-job");
    std::fs::write(&script, "#!/bin/sh\nexec sleep 30\n").expect("script");
    std::process::Command::new("chmod")
        .args(["+x"])
        .arg(&script)
        .status()
        .expect("chmod");
    launcher_contract(&ProcessLauncher::new(script, vec![], None)).await;

    // EKS: DescribeCluster on moto, the Jobs API on the fake Kubernetes server.
    let moto = Moto::start().await;
    create_cluster(&moto).await;
    let kube = FakeKube::default();
    let api = kube.start().await;
    let eks = eks_launcher(&moto, &api);
    launcher_contract(&eks).await;

    let seen = kube.seen.lock().expect("seen");
    assert_eq!((seen.creates, seen.deletes), (2, 2));
    assert!(
        seen.secrets.is_empty(),
        "the token Secret went with its Job: {:?}",
        seen.secrets.keys()
    );
    assert!(
        seen.tokens
            .iter()
            .all(|t| t.starts_with("Bearer k8s-aws-v1.")),
        "{:?}",
        seen.tokens
    );
}

async fn create_cluster(moto: &Moto) {
    moto.eks()
        .create_cluster()
        .name("saasit")
        .role_arn("arn:aws:iam::123456789012:role/eks")
        .resources_vpc_config(
            aws_sdk_eks::types::VpcConfigRequest::builder()
                .subnet_ids("subnet-1")
                .build(),
        )
        .send()
        .await
        .expect("cluster");
}

fn eks_launcher(moto: &Moto, api: &str) -> EksLauncher {
    EksLauncher::from_config(
        &moto.sdk,
        EksTarget {
            cluster_name: "saasit".into(),
            region: "us-east-1".into(),
            namespace: "saasit-executions".into(),
            image: "registry.example.com/saasit-executor:1".into(),
            llm: shared::runs::k8s::JobLlm::default(),
            api_server_override: Some(api.to_owned()),
        },
    )
    .expect("launcher")
}

#[tokio::test]
async fn the_eks_launcher_posts_the_rendered_job() {
    let moto = Moto::start().await;
    create_cluster(&moto).await;
    let kube = FakeKube::default();
    let eks = eks_launcher(&moto, &kube.start().await);
    let id = Uuid::now_v7();
    eks.launch(JobSpec {
        name: format!("exec-{id}"),
        execution_id: id,
        tier: Tier::Scale,
        env: vec![("EXECUTION_ID".into(), id.to_string())],
        callback_token: TOKEN.to_owned().into(),
        resources: Tier::Scale.limits().resources,
        deadline: Duration::from_secs(48 * 3600),
    })
    .await
    .expect("launch");
    let job = kube
        .seen
        .lock()
        .expect("seen")
        .jobs
        .get(&format!("saasit-executions/exec-{id}"))
        .cloned()
        .expect("the job");
    assert_eq!(job["metadata"]["labels"]["saasit.io/tier"], "scale");
    assert_eq!(job["spec"]["activeDeadlineSeconds"], 172_800 + 300);
    assert_eq!(job["spec"]["ttlSecondsAfterFinished"], 3600);
    let c = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], "registry.example.com/saasit-executor:1");
    assert_eq!(
        c["resources"]["limits"],
        json!({"cpu": "8", "memory": "16Gi"})
    );
    assert_eq!(
        job["spec"]["template"]["spec"]["serviceAccountName"],
        "executor"
    );
    // The token is in the Job's own Secret, mounted as a file; never in the Job.
    assert!(!job.to_string().contains(TOKEN), "{job}");
    assert!(c["env"]
        .as_array()
        .expect("env")
        .iter()
        .any(|e| e["name"] == "CALLBACK_TOKEN_FILE"));
    let secret = kube
        .seen
        .lock()
        .expect("seen")
        .secrets
        .get(&format!("saasit-executions/exec-{id}-token"))
        .cloned()
        .expect("the token Secret");
    assert_eq!(secret["stringData"]["callback-token"], TOKEN);
    assert_eq!(secret["immutable"], true);
    let owner = &secret["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "Job");
    assert_eq!(owner["name"], format!("exec-{id}"));
    assert_eq!(owner["uid"], job["metadata"]["uid"]);
}

#[tokio::test]
async fn the_local_launcher_hands_the_token_over_as_a_private_file() {
    let dir = std::env::temp_dir().join(format!("saasit-token-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let script = dir.join("job");
    // It reports what it was given: its token file, its mode, its environment.
    std::fs::write(
        &script,
        "#!/bin/sh\n{ echo \"file=$CALLBACK_TOKEN_FILE\"; echo \"token=$(cat \"$CALLBACK_TOKEN_FILE\")\"; echo \"mode=$(stat -c %a \"$CALLBACK_TOKEN_FILE\")\"; env; } > \"$0.tmp\" && mv \"$0.tmp\" \"$0.out\"\nexec sleep 30\n",
    )
    .expect("script");
    std::process::Command::new("chmod")
        .args(["+x"])
        .arg(&script)
        .status()
        .expect("chmod");
    let launcher = ProcessLauncher::new(script, vec![], None);
    let id = Uuid::now_v7();
    let job = JobSpec {
        name: format!("exec-{id}"),
        execution_id: id,
        tier: Tier::Starter,
        env: vec![("EXECUTION_ID".into(), id.to_string())],
        callback_token: TOKEN.to_owned().into(),
        resources: None,
        deadline: Duration::from_secs(60),
    };
    launcher.launch(job.clone()).await.expect("launch");
    let report = wait_for_text(&dir.join("job.out")).await;
    assert!(report.contains(&format!("token={TOKEN}")), "{report}");
    assert!(report.contains("mode=600"), "{report}");
    assert_eq!(
        report.matches(TOKEN).count(),
        1,
        "the token is in no environment value: {report}"
    );
    // Nothing of the stack's own environment reaches a job (the tests run
    // with DATABASE_URL set, as the stack does).
    assert!(std::env::var("DATABASE_URL").is_ok());
    assert!(!report.contains("DATABASE_URL="), "{report}");
    assert!(!report.contains("JWT_SECRET="), "{report}");
    assert!(report.contains("PATH="), "{report}");
    let file = report
        .lines()
        .find_map(|l| l.strip_prefix("file="))
        .expect("token file")
        .to_owned();
    // The token goes with its job.
    launcher.delete(&job.name).await.expect("delete");
    let started = std::time::Instant::now();
    while std::path::Path::new(&file).exists() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the token file outlived its job"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The text of a file once something has written it.
async fn wait_for_text(path: &std::path::Path) -> String {
    let started = std::time::Instant::now();
    loop {
        if let Ok(t) = std::fs::read_to_string(path) {
            if t.contains("mode=") {
                return t;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "nothing written to {}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ------------------------------------------------------------------ tracker

async fn tracker_contract(t: &dyn RunTracker) -> Uuid {
    let id = Uuid::now_v7();
    let run = TrackedRun {
        execution_id: id,
        heartbeat: Duration::from_secs(60),
        timeout: Duration::from_secs(600),
    };
    t.start(run).await.expect("start");
    t.start(run).await.expect("starting again is harmless");
    t.heartbeat(id, None)
        .await
        .expect("a beat before the token is registered");
    t.finished(id, None)
        .await
        .expect("an end before the token is registered");
    t.stop(Uuid::now_v7())
        .await
        .expect("stopping an unknown run");
    id
}

#[tokio::test]
async fn tracker_contract_local_and_step_functions() {
    let (local, _signals) = LocalTracker::new();
    let id = tracker_contract(&local).await;
    local.stop(id).await.expect("stop");

    let moto = Moto::start().await;
    let arn = state_machine(
        &moto,
        "https://sqs.us-east-1.amazonaws.com/123456789012/tracker",
    )
    .await;
    let sfn = SfnTracker::from_config(&moto.sdk, &arn);
    let id = tracker_contract(&sfn).await;
    let run = moto
        .sfn()
        .describe_execution()
        .execution_arn(sfn.run_arn(id))
        .send()
        .await
        .expect("the run is named after the execution");
    assert_eq!(run.status().as_str(), "RUNNING");
    let input: Value = serde_json::from_str(run.input().unwrap_or_default()).expect("input");
    assert_eq!(input["executionId"], id.to_string());
    sfn.stop(id).await.expect("stop");
    let run = moto
        .sfn()
        .describe_execution()
        .execution_arn(sfn.run_arn(id))
        .send()
        .await
        .expect("run");
    assert_eq!(run.status().as_str(), "ABORTED");
}

async fn state_machine(moto: &Moto, tracker_queue_url: &str) -> String {
    moto.sfn()
        .create_state_machine()
        .name("saasit-execution")
        .role_arn(ROLE)
        .definition(ASL.replace("${TrackerQueueUrl}", tracker_queue_url))
        .send()
        .await
        .expect("state machine")
        .state_machine_arn()
        .to_owned()
}

// ------------------------------------------------------------------ Lambda handlers on moto

struct AwsWorld {
    moto: Moto,
    kube: FakeKube,
    app: TestApp,
    state: ::executions::RunsState,
    pipeline: Arc<Runs>,
    queue: Arc<SqsQueue>,
    queue_urls: [String; 3],
    tracker_queue: String,
    sfn: Arc<SfnTracker>,
}

/// The whole AWS pipeline on moto: three queues, the real state machine
/// (executing), a bucket, a cluster whose API is the fake Kubernetes server.
async fn aws_world(heartbeat_timeout: Duration) -> AwsWorld {
    let moto = Moto::start().await;
    moto.execute_state_machines().await;
    let queue_urls = [
        moto.queue("exec-high").await,
        moto.queue("exec-standard").await,
        moto.queue("exec-low").await,
    ];
    let tracker_queue = moto.queue("tracker").await;
    let arn = state_machine(&moto, &tracker_queue).await;
    moto.s3()
        .create_bucket()
        .bucket("saasit-blobs")
        .send()
        .await
        .expect("bucket");
    create_cluster(&moto).await;
    let kube = FakeKube::default();
    let launcher = eks_launcher(&moto, &kube.start().await);
    let queue = Arc::new(SqsQueue::from_config(&moto.sdk, queue_urls.clone()));
    let sfn = Arc::new(SfnTracker::from_config(&moto.sdk, &arn));
    let app = spawn_app().await;
    let pipeline = Arc::new(Runs::new(
        app.state.db.clone(),
        app.state.tokens.clone(),
        Ports {
            queue: queue.clone(),
            launcher: Arc::new(launcher),
            tracker: sfn.clone(),
            blobs: Arc::new(S3Blobs::from_config(&moto.sdk, "saasit-blobs", true)),
            publisher: Arc::new(BroadcastPublisher::nowhere()),
            vault: app.state.vault.clone(),
            schedules: Arc::new(shared::triggers::NoSchedules),
        },
        "https://api.example.com".into(),
        RunSettings {
            heartbeat_timeout,
            tracker_heartbeat: heartbeat_timeout,
            // Long enough that a loaded CI machine checks the message is
            // hidden before it returns; the test waits it out once below.
            defer: Duration::from_secs(5),
            ..RunSettings::default()
        },
    ));
    let state = ::executions::RunsState {
        app: app.state.clone(),
        runs: pipeline.clone(),
    };
    AwsWorld {
        moto,
        kube,
        app,
        state,
        pipeline,
        queue,
        queue_urls,
        tracker_queue,
        sfn,
    }
}

impl AwsWorld {
    /// A STARTER user's runs, started through the API (so queued on SQS).
    async fn runs(&self, email: &str, n: usize) -> Vec<Uuid> {
        saasit_tests::queued_runs(&self.app, &self.state, email, n).await
    }

    async fn status(&self, id: Uuid) -> String {
        executions::get(&self.state.app.db, id)
            .await
            .expect("db")
            .expect("run")
            .status
            .as_str()
            .to_owned()
    }

    /// Receives tracker messages until one with `action` for `id` arrives, and runs the tracker Lambda on it.
    async fn tracker_step(&self, id: Uuid, action: &str, within: Duration) {
        let started = std::time::Instant::now();
        loop {
            let event = self
                .moto
                .receive(&self.tracker_queue, Duration::from_secs(1))
                .await;
            let wanted = event.records.iter().any(|r| {
                let b: Value =
                    serde_json::from_str(r.body.as_deref().unwrap_or("{}")).unwrap_or_default();
                b["action"] == action && b["executionId"] == id.to_string()
            });
            let response = steps::tracker::handle(&self.pipeline, event.clone()).await;
            assert!(
                response.batch_item_failures.is_empty(),
                "tracker step failed"
            );
            self.moto
                .acknowledge(&self.tracker_queue, &event, &response)
                .await;
            if wanted {
                return;
            }
            assert!(
                started.elapsed() < within,
                "no {action} message for {id} within {within:?}"
            );
        }
    }

    async fn run_status(&self, id: Uuid) -> String {
        self.moto
            .sfn()
            .describe_execution()
            .execution_arn(self.sfn.run_arn(id))
            .send()
            .await
            .expect("run")
            .status()
            .as_str()
            .to_owned()
    }

    async fn wait_run_status(&self, id: Uuid, wanted: &str) {
        for _ in 0..100 {
            if self.run_status(id).await == wanted {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "state machine run of {id} is {} not {wanted}",
            self.run_status(id).await
        );
    }
}

#[tokio::test]
async fn dispatcher_lambda_defers_over_limit_runs_and_ignores_duplicates() {
    let w = aws_world(Duration::from_secs(60)).await;
    let ids = w.runs("dispatch@example.com", 2).await;
    let low = &w.queue_urls[2];

    let batch = w.moto.receive(low, Duration::from_secs(2)).await;
    assert_eq!(bodies(&batch).len(), 2, "STARTER runs go to the low queue");
    let response = steps::dispatcher::handle(&w.pipeline, &w.queue, batch.clone()).await;
    assert_eq!(
        response.batch_item_failures.len(),
        1,
        "one slot: the other is deferred"
    );
    w.moto.acknowledge(low, &batch, &response).await;
    let statuses = [w.status(ids[0]).await, w.status(ids[1]).await];
    let (running, waiting) = if statuses[0] == "running" {
        (ids[0], ids[1])
    } else {
        (ids[1], ids[0])
    };
    assert_eq!(w.status(running).await, "running");
    assert_eq!(w.status(waiting).await, "queued");
    assert!(
        w.moto.receive(low, Duration::ZERO).await.records.is_empty(),
        "the deferred message is hidden, not spinning"
    );

    // The same message delivered again: no second Job.
    use shared::runs::ExecutionQueue;
    w.queue
        .send(running, Priority::Low, Duration::ZERO)
        .await
        .expect("send");
    let dup = w.moto.receive(low, Duration::from_secs(2)).await;
    let response = steps::dispatcher::handle(&w.pipeline, &w.queue, dup.clone()).await;
    assert!(response.batch_item_failures.is_empty());
    w.moto.acknowledge(low, &dup, &response).await;
    assert_eq!(w.kube.job_names().len(), 1);
    assert_eq!(w.kube.seen.lock().expect("seen").creates, 1);

    // The slot frees: the deferred message comes back and its run starts.
    let ended = executions::finish(
        &w.state.app.db,
        running,
        Ending {
            status: RunStatus::Completed,
            output: None,
            output_ref: None,
            error: None,
            failed_node: None,
            reason: None,
        },
    )
    .await
    .expect("finish");
    assert!(ended.is_some());
    w.pipeline
        .after_end(running, EndedBy::Executor)
        .await
        .expect("after end");
    let back = w.moto.receive(low, Duration::from_secs(15)).await;
    assert_eq!(bodies(&back), vec![waiting]);
    let response = steps::dispatcher::handle(&w.pipeline, &w.queue, back.clone()).await;
    assert!(response.batch_item_failures.is_empty());
    w.moto.acknowledge(low, &back, &response).await;
    assert_eq!(w.status(waiting).await, "running");
    assert_eq!(w.kube.job_names().len(), 2);

    // End the rest: nothing is left running.
    for id in ids {
        w.pipeline.tracker.stop(id).await.expect("stop");
        executions::finish(
            &w.state.app.db,
            id,
            Ending {
                status: RunStatus::Cancelled,
                output: None,
                output_ref: None,
                error: None,
                failed_node: None,
                reason: None,
            },
        )
        .await
        .expect("finish");
    }
}

#[tokio::test]
async fn the_state_machine_tracks_heartbeats_finalizes_and_reaps() {
    let w = aws_world(Duration::from_secs(2)).await;
    let ids = w.runs("tracked@example.com", 1).await;
    let id = ids[0];
    assert_eq!(
        w.pipeline.dispatch_one(id).await.expect("dispatch"),
        Outcome::Launched
    );
    assert_eq!(w.run_status(id).await, "RUNNING");

    // track: the tracker Lambda stores the task token.
    w.tracker_step(id, "track", Duration::from_secs(10)).await;
    let token = executions::get(&w.state.app.db, id)
        .await
        .expect("db")
        .expect("run")
        .task_token;
    assert!(token.is_some(), "the task token is registered");

    // Heartbeats keep it alive past the 2 s window.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        w.pipeline
            .tracker
            .heartbeat(id, token.clone())
            .await
            .expect("beat");
    }
    assert_eq!(w.run_status(id).await, "RUNNING");

    // The result: the run ends, the tracker is released, finalize stores the bundle.
    executions::finish(
        &w.state.app.db,
        id,
        Ending {
            status: RunStatus::Completed,
            output: Some(&json!({"ok": true})),
            output_ref: None,
            error: None,
            failed_node: None,
            reason: None,
        },
    )
    .await
    .expect("finish");
    w.pipeline
        .after_end(id, EndedBy::Executor)
        .await
        .expect("after end");
    w.tracker_step(id, "finalize", Duration::from_secs(10))
        .await;
    w.wait_run_status(id, "SUCCEEDED").await;
    let object = w
        .moto
        .s3()
        .get_object()
        .bucket("saasit-blobs")
        .key(format!("executions/{id}/execution-log.ndjson"))
        .send()
        .await;
    assert!(object.is_ok(), "the log bundle is in S3");

    // A second run that never beats. While its Job runs (an outage between
    // it and us), the reap finds it alive and the state machine tracks it
    // again; once its Job has failed, the next reap ends it.
    let silent = w.runs("silent@example.com", 1).await[0];
    assert_eq!(
        w.pipeline.dispatch_one(silent).await.expect("dispatch"),
        Outcome::Launched
    );
    w.tracker_step(silent, "track", Duration::from_secs(10))
        .await;
    w.kube
        .set_status(&silent.to_string(), json!({"active": 1, "ready": 1}));
    // Its heartbeat (set at launch) must be stale for the Job to be asked.
    tokio::time::sleep(Duration::from_secs(2)).await;
    w.tracker_step(silent, "reap", Duration::from_secs(15))
        .await;
    assert_eq!(w.status(silent).await, "running", "alive: not reaped");
    w.tracker_step(silent, "track", Duration::from_secs(15))
        .await;
    assert_eq!(w.run_status(silent).await, "RUNNING");
    w.kube.set_status(&silent.to_string(), json!({"failed": 1}));
    w.tracker_step(silent, "reap", Duration::from_secs(15))
        .await;
    let e = executions::get(&w.state.app.db, silent)
        .await
        .expect("db")
        .expect("run");
    assert_eq!(e.status, ExecutionStatus::TimedOut);
    assert!(
        e.error.as_deref().is_some_and(|m| m.contains("heartbeat")),
        "{:?}",
        e.error
    );
    assert!(
        !w.kube
            .job_names()
            .iter()
            .any(|n| n.ends_with(&silent.to_string())),
        "the reaped run's Job is deleted"
    );
    w.wait_run_status(silent, "SUCCEEDED").await;
}
