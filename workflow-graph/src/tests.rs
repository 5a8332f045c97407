use serde_json::{json, Value};

use super::*;

fn graph(v: Value) -> Graph {
    Graph::from_canvas(&v).expect("graph json")
}

fn codes(r: &ValidationReport) -> Vec<IssueCode> {
    r.issues.iter().map(|i| i.code).collect()
}

fn trigger(id: &str) -> Value {
    json!({ "id": id, "type": "trigger", "config": { "kind": "manual" } })
}

fn agent(id: &str, prompt: &str) -> Value {
    json!({ "id": id, "type": "agent", "config": { "systemPrompt": "You are helpful.", "prompt": prompt } })
}

fn output(id: &str) -> Value {
    json!({ "id": id, "type": "output", "config": {} })
}

#[test]
fn a_valid_diamond_has_layers_in_declaration_order() {
    let g = graph(json!({
        "nodes": [trigger("start"), agent("b", "{{inputs.topic}}"), agent("a", "{{start.output}}"),
                  agent("join", "{{a.output.text}} {{b.output.text}}"), output("out")],
        "edges": [{"from":"start","to":"b"},{"from":"start","to":"a"},{"from":"a","to":"join"},
                  {"from":"b","to":"join"},{"from":"join","to":"out"}],
        "viewport": {"x": 0, "y": 0}
    }));
    let v = validate(&g).expect("valid");
    assert_eq!(
        v.plan.layers,
        vec![vec!["start"], vec!["b", "a"], vec!["join"], vec!["out"]]
    );
    assert_eq!(v.plan.order, ["start", "b", "a", "join", "out"]);
    assert_eq!(v.parents[v.index_of("join").expect("join")].len(), 2);
    assert!(report(&g).issues.is_empty());
}

#[test]
fn cycles_are_named_in_order() {
    let g = graph(json!({
        "nodes": [trigger("t"), agent("a", "x"), agent("b", "x"), agent("c", "x"), output("o")],
        "edges": [{"from":"t","to":"a"},{"from":"a","to":"b"},{"from":"b","to":"c"},{"from":"c","to":"a"},{"from":"c","to":"o"}]
    }));
    let r = report(&g);
    assert!(!r.valid);
    let cycle = r
        .issues
        .iter()
        .find(|i| i.code == IssueCode::Cycle)
        .expect("cycle issue");
    assert_eq!(cycle.node_ids, ["a", "b", "c"]);
    assert_eq!(cycle.message, "cycle: a → b → c → a");
    assert!(r.plan.is_none());
}

#[test]
fn self_loops_and_dangling_and_duplicate_edges() {
    let g = graph(json!({
        "nodes": [trigger("t"), agent("a", "x"), output("o")],
        "edges": [{"from":"t","to":"a"},{"from":"a","to":"a"},{"from":"a","to":"ghost"},{"from":"a","to":"o"},{"from":"a","to":"o"}]
    }));
    let r = report(&g);
    assert_eq!(
        codes(&r),
        [
            IssueCode::Cycle,
            IssueCode::DanglingEdge,
            IssueCode::DuplicateEdge
        ]
    );
    assert_eq!(r.issues[1].path.as_deref(), Some("edges[2]"));
    assert!(r.issues[1].message.contains("ghost"));
}

#[test]
fn ids_types_and_configs_are_explained() {
    let g = graph(json!({
        "nodes": [trigger("t"), {"id":"t","type":"output"}, {"id":"bad-id","type":"output"},
                  {"id":"x","type":"teleport"},
                  {"id":"h","type":"http","config":{"url":"", "timeoutSeconds": 0, "verb": "GET"}},
                  {"id":"h2","type":"http","config":{"url":"", "timeoutSeconds": 0}},
                  {"id":"s","type":"trigger","config":{"kind":"schedule","cron":"61 * * * *"}},
                  {"id":"ag","type":"agent","config":{"prompt":"hi","temperature":3}},
                  {"id":"p","type":"output","policy":{"onError":"retry"}}],
        "edges": []
    }));
    let r = report(&g);
    let has = |code: IssueCode, path: &str| {
        r.issues
            .iter()
            .any(|i| i.code == code && i.path.as_deref() == Some(path))
    };
    assert!(has(IssueCode::DuplicateNodeId, "nodes[1].id"));
    assert!(has(IssueCode::InvalidNodeId, "nodes[2].id"));
    assert!(has(IssueCode::UnknownNodeType, "nodes[3].type"));
    assert!(
        has(IssueCode::InvalidConfig, "nodes[4].config"),
        "unknown field: {r:#?}"
    );
    assert!(has(IssueCode::InvalidConfig, "nodes[5].config.url"));
    assert!(has(
        IssueCode::InvalidConfig,
        "nodes[5].config.timeoutSeconds"
    ));
    assert!(has(IssueCode::InvalidConfig, "nodes[6].config.cron"));
    assert!(has(IssueCode::InvalidConfig, "nodes[7].config.agentId"));
    assert!(has(IssueCode::InvalidConfig, "nodes[7].config.temperature"));
    assert!(has(IssueCode::InvalidPolicy, "nodes[8].policy.retries"));
    let unknown = r
        .issues
        .iter()
        .find(|i| i.code == IssueCode::UnknownNodeType)
        .expect("issue");
    assert!(unknown.message.contains("teleport") && unknown.message.contains("transform"));
}

#[test]
fn missing_trigger_and_unreachable_nodes() {
    let r = report(&graph(
        json!({ "nodes": [agent("a", "x"), output("o")], "edges": [{"from":"a","to":"o"}] }),
    ));
    assert_eq!(codes(&r), [IssueCode::MissingTrigger]);

    let r = report(&graph(json!({
        "nodes": [trigger("t"), output("o"), agent("island", "x"), agent("island2", "x")],
        "edges": [{"from":"t","to":"o"},{"from":"island","to":"island2"}]
    })));
    let issue = r
        .issues
        .iter()
        .find(|i| i.code == IssueCode::UnreachableNode)
        .expect("unreachable");
    assert_eq!(issue.node_ids, ["island", "island2"]);
}

#[test]
fn template_references_are_checked() {
    let g = graph(json!({
        "nodes": [trigger("t"), agent("a", "{{inputs.q}}"), agent("b", "{{ a.output.text }}"),
                  agent("c", "{{ nobody.output }} {{ b.result }} {{ d.output }}"),
                  agent("d", "{{ c.output }}"), agent("e", "{{ oops"), output("o")],
        "edges": [{"from":"t","to":"a"},{"from":"a","to":"b"},{"from":"t","to":"c"},{"from":"t","to":"d"},
                  {"from":"t","to":"e"},{"from":"b","to":"o"}]
    }));
    let r = report(&g);
    let of = |code: IssueCode| -> Vec<String> {
        r.issues
            .iter()
            .filter(|i| i.code == code)
            .map(|i| i.message.clone())
            .collect()
    };
    let unknown = of(IssueCode::UnknownReference);
    assert_eq!(unknown.len(), 2, "{unknown:?}");
    assert!(unknown.iter().any(|m| m.contains("no node \"nobody\"")));
    assert!(unknown.iter().any(|m| m.contains("{{b.output}}")));
    let not_upstream = of(IssueCode::ReferenceNotUpstream);
    assert_eq!(not_upstream.len(), 2, "{not_upstream:?}"); // c → d and d → c, neither before the other
    assert_eq!(of(IssueCode::TemplateSyntax).len(), 1);
    let syntax = r
        .issues
        .iter()
        .find(|i| i.code == IssueCode::TemplateSyntax)
        .expect("syntax");
    assert_eq!(syntax.path.as_deref(), Some("nodes[5].config.prompt"));
}

#[test]
fn condition_edges_need_branches() {
    let g = graph(json!({
        "nodes": [trigger("t"), agent("score", "rate {{inputs.doc}}"),
                  {"id":"check","type":"condition","config":{"expression":"score.output.value >= 7"}},
                  output("good"), output("bad")],
        "edges": [{"from":"t","to":"score"},{"from":"score","to":"check"},
                  {"from":"check","to":"good","condition":"true"},{"from":"check","to":"bad","condition":"false"}]
    }));
    let v = validate(&g).expect("valid");
    let check = v.index_of("check").expect("check");
    assert_eq!(
        v.children[check]
            .iter()
            .map(|(_, b)| *b)
            .collect::<Vec<_>>(),
        [Some(true), Some(false)]
    );

    let bad = graph(json!({
        "nodes": [trigger("t"), {"id":"check","type":"condition","config":{"expression":"inputs.x > 1"}}, output("o"), output("p")],
        "edges": [{"from":"t","to":"check","condition":"true"},{"from":"check","to":"o"},{"from":"check","to":"p","condition":"maybe"}]
    }));
    let r = report(&bad);
    assert_eq!(
        r.issues
            .iter()
            .filter(|i| i.code == IssueCode::InvalidEdgeCondition)
            .count(),
        3
    );
}

#[test]
fn an_empty_graph_is_valid_but_a_missing_output_warns() {
    assert!(report(&Graph::default()).valid);
    let r = report(&graph(json!({ "nodes": [trigger("t")], "edges": [] })));
    assert!(r.valid);
    assert_eq!(codes(&r), [IssueCode::NoOutput]);
}

#[test]
fn oversize_graphs_are_refused_up_front() {
    let nodes: Vec<Value> = (0..=validate::MAX_NODES)
        .map(|i| output(&format!("n{i}")))
        .collect();
    let r = report(&graph(json!({ "nodes": nodes })));
    assert_eq!(codes(&r), [IssueCode::TooLarge]);
}

#[test]
fn triggers_take_no_inputs() {
    let r = report(&graph(json!({
        "nodes": [trigger("t"), trigger("t2"), output("o")],
        "edges": [{"from":"t","to":"t2"},{"from":"t2","to":"o"}]
    })));
    let issue = r
        .issues
        .iter()
        .find(|i| i.code == IssueCode::TriggerHasInputs)
        .expect("issue");
    assert_eq!(issue.node_ids, ["t2"]);
}

#[test]
fn self_references_and_bad_expressions() {
    let r = report(&graph(json!({
        "nodes": [trigger("t"), agent("a", "{{ a.output }}"),
                  {"id":"c","type":"condition","config":{"expression":"a.output >"}}, output("o")],
        "edges": [{"from":"t","to":"a"},{"from":"a","to":"c"},{"from":"c","to":"o","condition":"true"}]
    })));
    assert!(
        r.issues
            .iter()
            .any(|i| i.code == IssueCode::ReferenceNotUpstream
                && i.message.contains("its own output"))
    );
    let syntax = r
        .issues
        .iter()
        .find(|i| i.code == IssueCode::TemplateSyntax)
        .expect("syntax");
    assert_eq!(syntax.path.as_deref(), Some("nodes[2].config.expression"));
}

#[test]
fn per_type_ranges() {
    let r = report(&graph(json!({
        "nodes": [
            {"id":"t","type":"trigger","config":{"kind":"manual","cron":"* * * * *"}},
            {"id":"d","type":"delay","config":{"seconds": 90000}},
            {"id":"h","type":"http","config":{"url":"https://x", "headers":{"X-N": 5}, "maxResponseBytes": 0}},
            {"id":"a","type":"agent","config":{"agentId":"x","prompt":"  ","maxTokens":0}},
            {"id":"s","type":"trigger","config":{"kind":"schedule"}},
            {"id":"p","type":"output","policy":{"timeoutSeconds":0,"retries":11,"backoffInitialMs":5000,"backoffMaxMs":10,"backoffMultiplier":0.5}}
        ],
        "edges": []
    })));
    let paths: Vec<&str> = r.issues.iter().filter_map(|i| i.path.as_deref()).collect();
    for expected in [
        "nodes[0].config.cron",
        "nodes[1].config.seconds",
        "nodes[2].config.headers.X-N",
        "nodes[2].config.maxResponseBytes",
        "nodes[3].config.prompt",
        "nodes[3].config.maxTokens",
        "nodes[4].config.cron",
        "nodes[5].policy.timeoutSeconds",
        "nodes[5].policy.retries",
        "nodes[5].policy.backoffMaxMs",
        "nodes[5].policy.backoffMultiplier",
    ] {
        assert!(
            paths.contains(&expected),
            "no issue at {expected}: {paths:?}"
        );
    }
}

#[test]
fn typed_nodes_carry_their_policy() {
    let g = graph(json!({
        "nodes": [trigger("t"),
                  {"id":"a","type":"agent","config":{"systemPrompt":"s","prompt":"p","temperature":0.2},
                   "policy":{"retries":3,"onError":"continue","timeoutSeconds":60}},
                  output("o")],
        "edges": [{"from":"t","to":"a"},{"from":"a","to":"o"}]
    }));
    let v = validate(&g).expect("valid");
    let a = &v.nodes[v.index_of("a").expect("a")];
    assert_eq!(a.policy.retries, 3);
    assert_eq!(a.policy.on_error, OnError::Continue);
    assert_eq!(a.policy.timeout_seconds, 60);
    assert!(matches!(&a.spec, NodeSpec::Agent(c) if c.temperature == Some(0.2)));
    assert_eq!(v.nodes[0].policy, NodePolicy::default());
}

#[test]
fn secrets_are_a_namespace_and_artifact_names_are_plain() {
    let r = report(&graph(json!({
        "nodes": [trigger("t"),
                  {"id":"call","type":"http","config":{"url":"https://api.example.com","headers":{"Authorization":"Bearer {{ secrets.API_TOKEN }}"}}},
                  {"id":"secrets","type":"output"},
                  {"id":"o","type":"output","config":{"value":"{{call.output.body}}","artifact":{"name":"../etc/passwd"}}}],
        "edges": [{"from":"t","to":"call"},{"from":"call","to":"o"}]
    })));
    assert!(
        !r.issues
            .iter()
            .any(|i| i.code == IssueCode::UnknownReference),
        "{r:#?}"
    );
    assert!(r
        .issues
        .iter()
        .any(|i| i.code == IssueCode::InvalidNodeId && i.node_ids == ["secrets"]));
    assert!(r
        .issues
        .iter()
        .any(|i| i.path.as_deref() == Some("nodes[3].config.artifact.name")));
}

#[test]
fn a_graph_names_the_secrets_its_templates_use() {
    let g = graph(json!({
        "nodes": [trigger("t"),
                  {"id":"call","type":"http","config":{"url":"https://api.example.com/{{ secrets.TENANT }}","headers":{"Authorization":"Bearer {{ secrets.API_TOKEN }}"},"body":{"k":["{{ secrets.BODY_KEY | upper }}"]}}},
                  {"id":"check","type":"condition","config":{"expression":"secrets.FLAG == 'on'"}},
                  {"id":"a","type":"agent","config":{"systemPrompt":"x","prompt":"{{ inputs.secrets }} {{ call.output.secrets }}"}},
                  {"id":"bad","type":"http","config":{"url":"{{ secrets.BROKEN "}},
                  output("o")],
        "edges": [{"from":"t","to":"call"},{"from":"call","to":"check"},{"from":"check","to":"a","condition":"true"},{"from":"a","to":"o"}]
    }));
    let names: Vec<String> = crate::secret_references(&g).into_iter().collect();
    assert_eq!(names, ["API_TOKEN", "BODY_KEY", "FLAG", "TENANT"]);
}

#[test]
fn a_credential_header_in_clear_is_a_warning_and_a_reference_is_not() {
    let r = report(&graph(json!({
        "nodes": [trigger("t"),
                  {"id":"call","type":"http","config":{"url":"https://api.example.com","headers":{
                      "Authorization":"Bearer sk-live-123","X-Api-Key":"{{ secrets.KEY }}",
                      "X-Auth-Token":"abc","Accept":"application/json","Cookie":""}}},
                  output("o")],
        "edges": [{"from":"t","to":"call"},{"from":"call","to":"o"}]
    })));
    assert!(r.valid, "a warning does not make the graph invalid: {r:#?}");
    let paths: Vec<&str> = r
        .issues
        .iter()
        .filter(|i| i.code == IssueCode::LiteralCredential)
        .inspect(|i| assert_eq!(i.severity, crate::Severity::Warning))
        .filter_map(|i| i.path.as_deref())
        .collect();
    assert_eq!(
        paths,
        [
            "nodes[1].config.headers.Authorization",
            "nodes[1].config.headers.X-Auth-Token"
        ]
    );
    assert!(
        !r.issues.iter().any(|i| i.message.contains("sk-live-123")),
        "the warning does not repeat the value"
    );
}
