#!/usr/bin/env python3
"""Deploy lint: the rules AWS enforces only when a stack is created.

`sam validate --lint` and cfn-lint read template.yaml as a document; API Gateway,
SQS and CloudWatch refuse some valid-looking documents only at deploy time, and
no emulator (moto, LocalStack) enforces those rules on the OpenAPI import SAM
uses. This script turns template.yaml into CloudFormation with the SAM
translator, offline, as `sam deploy` would, and checks what it generates:

REST API (the OpenAPI body SAM generates)
  - at most one variable child ({x} or {x+}) per resource (API Gateway:
    "A sibling ({proxy+}) of this resource already has a variable path part");
  - a greedy {x+} only as the last path part; path parts API Gateway accepts;
  - every method has an integration;
  - every documented operation (the OpenAPI document the code serves) reaches
    the function that implements it, matched as API Gateway matches (static part
    before variable before greedy; the method before ANY);
  - every gateway response type is set with a stable error code from the
    document and CORS headers, so a browser sees API Gateway's own errors.
WebSocket API
  - every route targets an integration of its API; the stage depends on every
    route; every integrated function may be invoked by API Gateway.
The executor image
  - its Rust is at least the workspace's rust-version, itself at least what the
    locked dependencies need; .dockerignore leaves out target/, .local/, .git, .env.
Functions, queues, alarms
  - a stable name within 64 characters and a log group named after it;
    functions behind the REST API answer within its 29 s integration timeout;
  - every SQS event source: the queue's visibility timeout is at least six
    times the function's timeout plus its batching window; every queue that is
    not a dead-letter queue has one, which keeps messages longer than it does;
  - every alarm watches a metric that exists: an AWS metric of its namespace
    with that namespace's dimensions, or one the code emits (EMF).

Usage: deploy_lint.py TEMPLATE OPENAPI_JSON [--source DIR]   (exit 1 on a problem)
       deploy_lint.py --self-test
"""

import copy
import json
import os
import re
import sys

# What each documented operation's id starts with -> the function that serves it.
OWNERS = {
    "auth": "AuthFunction",
    "api_keys": "AuthFunction",
    "health": "HealthFunction",
    "workflows": "WorkflowsFunction",
    "templates": "WorkflowsFunction",
    "agents": "AgentsFunction",
    "tools": "AgentsFunction",
    "mcp_servers": "AgentsFunction",
    "workflow_chat": "AgentsFunction",
    "workspaces": "WorkspacesFunction",
    "invitations": "WorkspacesFunction",
    "billing": "BillingFunction",
    "billing_webhook": "BillingWebhookFunction",
    "executions": "ExecutionsFunction",
    "hooks": "HooksFunction",
    "schedules": "WorkflowsFunction",
    "analytics": "WorkspacesFunction",
}

# API Gateway's gateway response types and the status each has by default.
GATEWAY_RESPONSES = {
    "ACCESS_DENIED": 403, "API_CONFIGURATION_ERROR": 500, "AUTHORIZER_CONFIGURATION_ERROR": 500,
    "AUTHORIZER_FAILURE": 500, "BAD_REQUEST_PARAMETERS": 400, "BAD_REQUEST_BODY": 400,
    "DEFAULT_4XX": None, "DEFAULT_5XX": None, "EXPIRED_TOKEN": 403, "INTEGRATION_FAILURE": 504,
    "INTEGRATION_TIMEOUT": 504, "INVALID_API_KEY": 403, "INVALID_SIGNATURE": 403,
    "MISSING_AUTHENTICATION_TOKEN": 403, "QUOTA_EXCEEDED": 429, "REQUEST_TOO_LARGE": 413,
    "RESOURCE_NOT_FOUND": 404, "THROTTLED": 429, "UNAUTHORIZED": 401,
    "UNSUPPORTED_MEDIA_TYPE": 415, "WAF_FILTERED": 403,
}

# The AWS metrics alarms may watch, and the dimensions each namespace's metrics take.
AWS_METRICS = {
    "AWS/SQS": ({"ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage",
                 "ApproximateNumberOfMessagesNotVisible", "NumberOfMessagesSent",
                 "NumberOfMessagesReceived", "NumberOfMessagesDeleted"}, [{"QueueName"}]),
    "AWS/Lambda": ({"Errors", "Throttles", "Invocations", "Duration", "ConcurrentExecutions",
                    "IteratorAge"}, [{"FunctionName"}, set()]),
    "AWS/ApiGateway": ({"5XXError", "4XXError", "Count", "Latency", "IntegrationLatency"},
                       [{"ApiName"}, {"ApiName", "Stage"},
                        {"ApiName", "Stage", "Resource", "Method"}]),
    "AWS/States": ({"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted",
                    "ExecutionThrottled", "ExecutionsStarted", "ExecutionsSucceeded"},
                   [{"StateMachineArn"}]),
    "AWS/RDS": ({"DatabaseConnections", "CPUUtilization", "FreeStorageSpace",
                 "FreeableMemory", "DatabaseConnectionsBorrowLatency", "ClientConnections",
                 "DatabaseConnectionsCurrentlyBorrowed", "AvailabilityPercentage"},
                [{"DBInstanceIdentifier"}, {"ProxyName"}]),
}

PATH_PART = re.compile(r"^([A-Za-z0-9._:-]+|\{[A-Za-z0-9._-]+\+?\})$")


def is_variable(part):
    return part.startswith("{") and part.endswith("}")


def is_greedy(part):
    return part.endswith("+}")


def ref_name(value):
    """The logical id an intrinsic names (Ref, GetAtt, or ${X.Arn} in a Sub)."""
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            att = value["Fn::GetAtt"]
            return att[0] if isinstance(att, list) else att.split(".")[0]
        if "Fn::Sub" in value:
            sub = value["Fn::Sub"]
            text = sub[0] if isinstance(sub, list) else sub
            m = re.search(r"functions/\$\{(\w+)\.Arn\}", text)
            return m.group(1) if m else None
    return None


# ---------------------------------------------------------------- REST API


def resource_tree(paths):
    """The resource tree API Gateway builds from OpenAPI paths: {part: subtree}."""
    tree = {}
    for path in paths:
        node = tree
        for part in [p for p in path.split("/") if p]:
            node = node.setdefault(part, {})
    return tree


def tree_problems(paths):
    problems = []
    for path in paths:
        parts = [p for p in path.split("/") if p]
        for i, part in enumerate(parts):
            if not PATH_PART.match(part):
                problems.append(f"{path}: API Gateway refuses the path part {part!r}")
            if is_greedy(part) and i != len(parts) - 1:
                problems.append(f"{path}: a greedy {part} must be the last path part")

    def walk(node, prefix):
        variables = sorted(p for p in node if is_variable(p))
        if len(variables) > 1:
            problems.append(
                f"{prefix or '/'}: variable path parts side by side ({', '.join(variables)}); "
                "API Gateway allows one per resource and the stack would roll back")
        for part, child in node.items():
            walk(child, f"{prefix}/{part}")

    walk(resource_tree(paths), "")
    return problems


def integration_problems(paths):
    problems = []
    for path, methods in paths.items():
        for method, op in methods.items():
            if method.startswith("x-") or method == "parameters":
                continue
            if "x-amazon-apigateway-integration" not in op:
                problems.append(f"{method.upper()} {path}: no integration")
    return problems


def resolve(paths, method, path):
    """The (template path, method key) API Gateway would route a request to, or None."""
    parts = [p for p in path.split("/") if p]
    templates = {tuple(p for p in t.split("/") if p): t for t in paths}

    def match(prefix, rest):
        if not rest:
            t = templates.get(prefix)
            return [t] if t else []
        children = {t[len(prefix)] for t in templates if len(t) > len(prefix) and t[:len(prefix)] == prefix}
        found = []
        if rest[0] in children:
            found += match(prefix + (rest[0],), rest[1:])
        for c in sorted(children):
            if is_variable(c) and not is_greedy(c):
                found += match(prefix + (c,), rest[1:])
        for c in sorted(children):
            if is_greedy(c) and prefix + (c,) in templates:
                found.append(templates[prefix + (c,)])
        return found

    # API Gateway picks the resource first, then the method on it: a static
    # resource without the method answers 403 (our 404), it does not fall back.
    found = match((), parts)
    if not found:
        return None
    ops = paths[found[0]]
    for key in (method.lower(), "x-amazon-apigateway-any-method"):
        if key in ops:
            return found[0], key
    return None


def owner_of(operation_id):
    best = None
    for prefix, function in OWNERS.items():
        if (operation_id == prefix or operation_id.startswith(prefix + "_")) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, function)
    return best[1] if best else None


def route_problems(paths, document):
    problems = []
    for path, methods in document.get("paths", {}).items():
        for method, op in methods.items():
            if method not in ("get", "put", "post", "delete", "patch", "head", "options"):
                continue
            concrete = re.sub(r"\{[^}]+\}", "x", path)
            hit = resolve(paths, method, concrete)
            name = f"{method.upper()} {path} ({op.get('operationId')})"
            if hit is None:
                problems.append(f"{name}: API Gateway has no route for it (it answers 404)")
                continue
            target = ref_name(paths[hit[0]][hit[1]]["x-amazon-apigateway-integration"]["uri"])
            want = owner_of(op.get("operationId", ""))
            if want is None:
                problems.append(f"{name}: no function is known to serve this operation (OWNERS)")
            elif target != want:
                problems.append(f"{name}: API Gateway sends it to {target} through {hit[0]}, but {want} serves it")
    return problems


def gateway_response_problems(api_props, error_codes):
    problems = []
    responses = api_props.get("GatewayResponses") or {}
    for kind in GATEWAY_RESPONSES:
        if kind not in responses:
            problems.append(f"gateway response {kind} is not set: API Gateway would answer in its own shape")
            continue
        r = responses[kind]
        body = (r.get("ResponseTemplates") or {}).get("application/json", "")
        m = re.search(r'"code":"([A-Z_]+)"', body)
        if not m:
            problems.append(f"gateway response {kind}: no error code in its JSON body")
        elif error_codes and m.group(1) not in error_codes:
            problems.append(f"gateway response {kind}: {m.group(1)} is not an error code of the API document")
        headers = ((r.get("ResponseParameters") or {}).get("Headers") or {})
        if "Access-Control-Allow-Origin" not in headers:
            problems.append(f"gateway response {kind}: no CORS header, so browsers hide the error")
    return problems


# ---------------------------------------------------------------- the rest


def websocket_problems(resources):
    problems = []
    by_type = lambda t: {k: v for k, v in resources.items() if v["Type"] == t}
    routes = by_type("AWS::ApiGatewayV2::Route")
    integrations = by_type("AWS::ApiGatewayV2::Integration")
    permissions = by_type("AWS::Lambda::Permission")
    for name, route in routes.items():
        target = route["Properties"].get("Target")
        integration = None
        if isinstance(target, dict) and "Fn::Sub" in target:
            m = re.match(r"integrations/\$\{(\w+)\}", target["Fn::Sub"] if isinstance(target["Fn::Sub"], str) else target["Fn::Sub"][0])
            integration = m and m.group(1)
        if integration not in integrations:
            problems.append(f"WebSocket route {name} targets no integration of its API")
        elif ref_name(integrations[integration]["Properties"].get("ApiId")) != ref_name(route["Properties"].get("ApiId")):
            problems.append(f"WebSocket route {name} targets an integration of another API")
    for name, stage in by_type("AWS::ApiGatewayV2::Stage").items():
        depends = stage.get("DependsOn") or []
        depends = [depends] if isinstance(depends, str) else depends
        api = ref_name(stage["Properties"].get("ApiId"))
        for route, body in routes.items():
            if ref_name(body["Properties"].get("ApiId")) == api and route not in depends:
                problems.append(f"WebSocket stage {name} does not depend on route {route}: its first deployment can miss it")
    for name, integration in integrations.items():
        function = ref_name(integration["Properties"].get("IntegrationUri"))
        if not any(ref_name(p["Properties"].get("FunctionName")) == function
                   and p["Properties"].get("Principal") == "apigateway.amazonaws.com"
                   for p in permissions.values()):
            problems.append(f"WebSocket integration {name}: API Gateway may not invoke {function}")
    return problems


def function_problems(resources, rest_functions):
    problems = []
    groups = [v["Properties"].get("LogGroupName") for v in resources.values() if v["Type"] == "AWS::Logs::LogGroup"]
    for name, fn in resources.items():
        if fn["Type"] != "AWS::Lambda::Function":
            continue
        props = fn["Properties"]
        fname = props.get("FunctionName")
        if fname is None:
            problems.append(f"{name}: no FunctionName, so `cargo lambda deploy` cannot find it (CloudFormation names it {name}-<random>)")
        elif isinstance(fname, dict) and "Fn::Sub" in fname:
            text = fname["Fn::Sub"]
            fixed = len(text.replace("${AWS::StackName}", ""))
            if fixed + 40 > 64:
                problems.append(f"{name}: {text} exceeds 64 characters with a 40-character stack name")
        if not any(isinstance(g, dict) and "Fn::Sub" in g and ("${" + name + "}") in str(g["Fn::Sub"]) for g in groups):
            problems.append(f"{name}: no log group with a retention (/aws/lambda/${{{name}}})")
        if name in rest_functions and int(props.get("Timeout", 3)) > 29:
            problems.append(f"{name}: timeout {props.get('Timeout')} s behind the REST API, whose integration gives up at 29 s")
    return problems


def names_in(value):
    """Every logical id, parameter or attribute an intrinsic structure names."""
    found = set()
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "Ref" and isinstance(v, str):
                found.add(v)
            elif k == "Fn::GetAtt":
                found.add(".".join(v) if isinstance(v, list) else v)
            elif k == "Fn::Sub":
                text = v[0] if isinstance(v, list) else v
                found.update(re.findall(r"\$\{([A-Za-z0-9_.:]+)\}", text))
                if isinstance(v, list):
                    found.update(names_in(v[1]))
            else:
                found.update(names_in(v))
    elif isinstance(value, list):
        for v in value:
            found.update(names_in(v))
    return found - {"AWS::Partition", "AWS::Region", "AWS::AccountId", "AWS::NoValue", "AWS::URLSuffix"}


def role_statements(resources, fn_props):
    """The statements of a function's role: inline policies and managed policies in the template."""
    role = resources.get(ref_name(fn_props.get("Role")) or "", {}).get("Properties", {})
    docs = []

    def add(policy):
        if isinstance(policy, dict) and "Fn::If" in policy:
            for branch in policy["Fn::If"][1:]:
                add(branch)
        elif isinstance(policy, dict) and "PolicyDocument" in policy:
            docs.append(policy["PolicyDocument"])

    for policy in role.get("Policies") or []:
        add(policy)
    for arn in role.get("ManagedPolicyArns") or []:
        managed = resources.get(ref_name(arn) or "", {})
        if managed.get("Type") == "AWS::IAM::ManagedPolicy":
            docs.append(managed["Properties"]["PolicyDocument"])
    statements = []
    for doc in docs:
        st = doc.get("Statement", [])
        statements += st if isinstance(st, list) else [st]
    return statements


def allows(statements, action, names=None):
    for st in statements:
        if st.get("Effect") != "Allow":
            continue
        actions = st.get("Action")
        actions = [actions] if isinstance(actions, str) else actions or []
        if action not in actions:
            continue
        if names is None or names & names_in(st.get("Resource")):
            return True
    return False


def permission_problems(resources):
    """Every secret a function reads (NAME_FROM_SECRET) and its IAM database token are
    allowed by its role: a missing grant only shows at cold start on AWS."""
    problems = []
    for name, fn in resources.items():
        if fn["Type"] != "AWS::Lambda::Function":
            continue
        props = fn["Properties"]
        env = ((props.get("Environment") or {}).get("Variables")) or {}
        statements = role_statements(resources, props)
        for var, value in env.items():
            if not var.endswith("_FROM_SECRET") or value == "":
                continue
            wanted = names_in(value)
            if not wanted:
                continue
            if not allows(statements, "secretsmanager:GetSecretValue", wanted):
                problems.append(f"{name}: reads {var} ({', '.join(sorted(wanted))}) but its role may not GetSecretValue on it")
        if env.get("DATABASE_IAM_HOST", "") != "" and not allows(statements, "rds-db:connect"):
            problems.append(f"{name}: connects to the database with an IAM token but its role lacks rds-db:connect")
    return problems


def operation_problems(sam_template, resources):
    """What the deploy issue fixed and a template edit could undo: no function migrates at cold
    start (the migration function does, once per deploy); a scheduled function runs one at a
    time; executor callbacks have a throttle of their own, apart from the stage's default."""
    problems = []
    for name, fn in resources.items():
        if fn["Type"] != "AWS::Lambda::Function":
            continue
        env = ((fn["Properties"].get("Environment") or {}).get("Variables")) or {}
        if str(env.get("DB_MIGRATE_ON_START", "true")).lower() != "false":
            problems.append(f"{name}: migrates at every cold start (DB_MIGRATE_ON_START is not false)")
    for name, sched in resources.items():
        if sched["Type"] != "AWS::Scheduler::Schedule":
            continue
        target = ref_name(sched["Properties"]["Target"]["Arn"])
        fn = resources.get(target, {}).get("Properties", {})
        if fn.get("ReservedConcurrentExecutions") != 1:
            problems.append(f"{target}: runs on a schedule ({name}) without ReservedConcurrentExecutions 1, "
                            "so a slow run overlaps the next")
    for name, res in sam_template["Resources"].items():
        if res["Type"] != "AWS::Serverless::Api":
            continue
        paths = {m.get("ResourcePath") for m in res["Properties"].get("MethodSettings") or []}
        if "/~1api~1v1~1internal~1{proxy+}" not in paths:
            problems.append(f"{name}: executor callbacks share the stage's default throttle "
                            "(no MethodSettings for /api/v1/internal/{proxy+})")
    problems += callback_problems(resources)
    return problems


def callback_problems(resources):
    """Executors call back through a function URL (no API Gateway request to pay, no stage
    throttle shared with people): CALLBACK_URL is such a URL, its function has a reserved
    concurrency (its own limit, and the cap on a flood of a public URL), and a public URL has
    both permissions AWS requires since October 2025 (lambda:InvokeFunctionUrl, and
    lambda:InvokeFunction when invoked through the URL)."""
    problems = []
    for name, fn in resources.items():
        if fn["Type"] != "AWS::Lambda::Function":
            continue
        env = ((fn["Properties"].get("Environment") or {}).get("Variables")) or {}
        url = env.get("CALLBACK_URL")
        if url is None:
            continue
        target = url.get("Fn::GetAtt") if isinstance(url, dict) else None
        if not target or target[1] != "FunctionUrl" or resources.get(target[0], {}).get("Type") != "AWS::Lambda::Url":
            problems.append(f"{name}: CALLBACK_URL is not a function URL (executor callbacks would pay for and "
                            "share an API Gateway stage)")
            continue
        url_res = resources[target[0]]["Properties"]
        owner = ref_name(url_res["TargetFunctionArn"])
        if resources.get(owner, {}).get("Properties", {}).get("ReservedConcurrentExecutions") is None:
            problems.append(f"{owner}: serves executor callbacks without a reserved concurrency")
        if url_res.get("AuthType") == "NONE":
            granted = set()
            for perm in resources.values():
                p = perm.get("Properties", {})
                if perm["Type"] == "AWS::Lambda::Permission" and ref_name(p.get("FunctionName")) == owner \
                        and p.get("Principal") == "*":
                    if p.get("Action") == "lambda:InvokeFunctionUrl" and p.get("FunctionUrlAuthType") == "NONE":
                        granted.add("url")
                    if p.get("Action") == "lambda:InvokeFunction" and p.get("InvokedViaFunctionUrl") in (True, "true"):
                        granted.add("invoke")
            if granted != {"url", "invoke"}:
                problems.append(f"{owner}: its public URL lacks lambda:InvokeFunctionUrl or lambda:InvokeFunction "
                                "(InvokedViaFunctionUrl) for everyone: every callback would be 403")
    return problems


def queue_problems(resources):
    problems = []
    queues = {k: v for k, v in resources.items() if v["Type"] == "AWS::SQS::Queue"}
    dlqs = set()
    # Queues a function's failed asynchronous invocations go to are dead-letter queues too.
    for res in resources.values():
        props = res.get("Properties") or {}
        config = props if res.get("Type") == "AWS::Lambda::EventInvokeConfig" else props.get("EventInvokeConfig") or {}
        on_failure = (config.get("DestinationConfig") or {}).get("OnFailure") or {}
        if on_failure.get("Destination"):
            dlqs.add(ref_name(on_failure.get("Destination")))
    for name, q in queues.items():
        redrive = q["Properties"].get("RedrivePolicy")
        if redrive:
            dlq = ref_name(redrive.get("deadLetterTargetArn"))
            dlqs.add(dlq)
            if dlq not in queues:
                problems.append(f"{name}: its dead-letter queue {dlq} is not in the template")
                continue
            mine = int(q["Properties"].get("MessageRetentionPeriod", 345600))
            theirs = int(queues[dlq]["Properties"].get("MessageRetentionPeriod", 345600))
            if theirs <= mine:
                problems.append(f"{name}: its dead-letter queue keeps messages {theirs} s, not longer than the queue's {mine} s "
                                "(a message keeps its first enqueue time, so it could expire on arrival)")
    for name in queues:
        if name not in dlqs and not queues[name]["Properties"].get("RedrivePolicy"):
            problems.append(f"{name}: no dead-letter queue")
    for name, esm in resources.items():
        if esm["Type"] != "AWS::Lambda::EventSourceMapping":
            continue
        queue = ref_name(esm["Properties"].get("EventSourceArn"))
        if queue not in queues:
            continue
        fn = resources[ref_name(esm["Properties"]["FunctionName"])]["Properties"]
        timeout = int(fn.get("Timeout", 3))
        window = int(esm["Properties"].get("MaximumBatchingWindowInSeconds", 0))
        visibility = int(queues[queue]["Properties"].get("VisibilityTimeout", 30))
        if visibility < 6 * timeout + window:
            problems.append(f"{queue}: visibility timeout {visibility} s < 6 x {timeout} s (consumer timeout) + {window} s; "
                            "AWS asks for at least six times, or messages are received twice while being handled")
    return problems


def emitted_metrics(source_dir):
    """The metrics the code emits (shared::metrics): name -> its dimension names."""
    metrics = {}
    for root, dirs, files in os.walk(source_dir):
        dirs[:] = [d for d in dirs if d not in ("target", ".local", ".git", "node_modules")]
        for f in files:
            if f.endswith(".rs"):
                with open(os.path.join(root, f), encoding="utf-8") as fh:
                    for name, dims in re.findall(r'Metric::new\(\s*"([A-Za-z0-9]+)",\s*Unit::\w+,\s*&\[([^\]]*)\]', fh.read()):
                        metrics[name] = set(re.findall(r'"(\w+)"', dims))
    return metrics


def alarm_problems(resources, custom_namespace, emitted):
    problems = []
    for name, alarm in resources.items():
        if alarm["Type"] != "AWS::CloudWatch::Alarm":
            continue
        props = alarm["Properties"]
        metrics = [(props.get("Namespace"), props.get("MetricName"), props.get("Dimensions") or [])]
        for m in props.get("Metrics") or []:
            stat = m.get("MetricStat")
            if stat:
                metric = stat["Metric"]
                metrics.append((metric.get("Namespace"), metric.get("MetricName"), metric.get("Dimensions") or []))
        for namespace, metric, dims in metrics:
            if namespace is None and metric is None:
                continue
            keys = {d["Name"] for d in dims}
            if namespace in AWS_METRICS:
                known, dimension_sets = AWS_METRICS[namespace]
                if metric not in known:
                    problems.append(f"{name}: {namespace} has no metric {metric}")
                if keys not in dimension_sets:
                    problems.append(f"{name}: {namespace} {metric} is not published with dimensions {sorted(keys)}")
            elif namespace == custom_namespace:
                if metric not in emitted:
                    problems.append(f"{name}: the code emits no {custom_namespace} metric {metric}")
                elif keys != set(emitted[metric]):
                    problems.append(f"{name}: {custom_namespace} {metric} is emitted with dimensions "
                                    f"{sorted(emitted[metric])}, not {sorted(keys)}")
            else:
                problems.append(f"{name}: unknown namespace {namespace}")
        if not props.get("AlarmActions"):
            problems.append(f"{name}: tells no one (no AlarmActions)")
    return problems


# ---------------------------------------------------------------- the executor image


def version(text):
    return tuple(int(x) for x in text.split("."))


def image_problems(root, dependency_versions):
    """The image builds: its Rust is new enough for the workspace, whose rust-version is
    true to the locked dependencies; the build context leaves out builds, local state, .env."""
    problems = []
    with open(os.path.join(root, "Cargo.toml"), encoding="utf-8") as fh:
        m = re.search(r'^rust-version = "([0-9.]+)"', fh.read(), re.M)
    workspace = version(m.group(1)) if m else None
    if workspace is None:
        problems.append("Cargo.toml: no workspace rust-version")
    else:
        newest = max(dependency_versions, default=((0,), ""))
        if newest[0] > workspace:
            problems.append(f"Cargo.toml: rust-version {m.group(1)} is older than {newest[1]} needs "
                            f"({'.'.join(map(str, newest[0]))})")
    with open(os.path.join(root, "infra/executor.Dockerfile"), encoding="utf-8") as fh:
        dockerfile = fh.read()
    m = re.search(r"^ARG RUST_VERSION=([0-9.]+)$", dockerfile, re.M)
    if not m or "rust:${RUST_VERSION}" not in dockerfile:
        problems.append("infra/executor.Dockerfile: no `ARG RUST_VERSION=x.y.z` used by its rust base image")
    elif workspace and version(m.group(1)) < workspace:
        problems.append(f"infra/executor.Dockerfile: Rust {m.group(1)} is older than the workspace's rust-version")
    try:
        with open(os.path.join(root, ".dockerignore"), encoding="utf-8") as fh:
            ignored = {line.strip().rstrip("/") for line in fh}
    except FileNotFoundError:
        ignored = set()
    for must in ("target", ".local", ".git", ".env"):
        if must not in ignored:
            problems.append(f".dockerignore: {must} is sent to the Docker daemon with every image build")
    return problems


def dependency_rust_versions(root):
    import subprocess
    out = subprocess.run(["cargo", "metadata", "--format-version", "1", "--locked"], cwd=root,
                         check=True, capture_output=True, text=True).stdout
    return [(version(p["rust_version"]), f"{p['name']} {p['version']}")
            for p in json.loads(out)["packages"] if p.get("rust_version")]


# ---------------------------------------------------------------- main


def build_problems(sam_template, root):
    """Every function builds from its own package (so cargo resolves that package's features
    alone), and that package has the binary the function names."""
    problems = []
    for name, res in sam_template["Resources"].items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        meta = res.get("Metadata") or {}
        if meta.get("BuildMethod") != "rust-cargolambda":
            continue
        code = res["Properties"].get("CodeUri")
        binary = (meta.get("BuildProperties") or {}).get("Binary")
        manifest = os.path.join(root, str(code), "Cargo.toml")
        if code in (".", "./", None) or not os.path.exists(manifest):
            problems.append(f"{name}: CodeUri {code!r} is not a package directory; from the workspace root "
                            "cargo unifies every package's features and the function links every SDK")
            continue
        with open(manifest, encoding="utf-8") as fh:
            text = fh.read()
        bins = set(re.findall(r'\[\[bin\]\]\s*name\s*=\s*"([^"]+)"', text))
        package = re.search(r'^name\s*=\s*"([^"]+)"', text, re.M)
        if binary not in bins and not (package and package.group(1) == binary):
            problems.append(f"{name}: {code} has no binary {binary!r}")
    return problems


def translate(path):
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    class NoManagedPolicies:
        def load(self):
            return {}

    base = os.path.dirname(os.path.abspath(path))
    with open(path, encoding="utf-8") as fh:
        template = yaml_parse(fh.read())
    original = copy.deepcopy(template)
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
            props["CodeUri"] = "s3://deploy-lint/code.zip"
        if resource["Type"] == "AWS::Serverless::StateMachine" and isinstance(props.get("DefinitionUri"), str):
            with open(os.path.join(base, props.pop("DefinitionUri")), encoding="utf-8") as fh:
                props["Definition"] = json.load(fh)
    return original, transform(template, {}, NoManagedPolicies())


def lint(template_path, document, source_dir):
    sam, cfn = translate(template_path)
    resources = cfn["Resources"]
    problems = []
    error_codes = set(document.get("components", {}).get("schemas", {}).get("ErrorCode", {}).get("enum", []))
    rest_functions = set()
    for name, res in resources.items():
        if res["Type"] != "AWS::ApiGateway::RestApi":
            continue
        paths = res["Properties"]["Body"]["paths"]
        problems += tree_problems(paths)
        problems += integration_problems(paths)
        problems += route_problems(paths, document)
        for methods in paths.values():
            for op in methods.values():
                integration = op.get("x-amazon-apigateway-integration") if isinstance(op, dict) else None
                if integration:
                    rest_functions.add(ref_name(integration["uri"]))
    for name, res in sam["Resources"].items():
        if res["Type"] == "AWS::Serverless::Api":
            problems += gateway_response_problems(res["Properties"], error_codes)
    problems += websocket_problems(resources)
    problems += function_problems(resources, rest_functions)
    problems += queue_problems(resources)
    problems += permission_problems(resources)
    problems += operation_problems(sam, resources)
    problems += alarm_problems(resources, "SaasIt", emitted_metrics(source_dir))
    root = os.path.dirname(os.path.abspath(template_path))
    problems += build_problems(sam, root)
    problems += image_problems(root, dependency_rust_versions(root))
    return problems


def self_test():
    """The rules catch what they are for (run by scripts/test before the lint)."""
    bad = {
        "/api/v1/workflows/{proxy+}": {"x-amazon-apigateway-any-method": {"x-amazon-apigateway-integration": {"uri": {"Fn::Sub": "functions/${WorkflowsFunction.Arn}/invocations"}}}},
        "/api/v1/workflows/{id}/execute": {"post": {"x-amazon-apigateway-integration": {"uri": {"Fn::Sub": "functions/${ExecutionsFunction.Arn}/invocations"}}}},
        "/a/{x+}/b": {"get": {}},
    }
    problems = tree_problems(bad) + integration_problems(bad)
    assert any("side by side ({id}, {proxy+})" in p for p in problems), problems
    assert any("greedy {x+} must be the last" in p for p in problems), problems
    assert any(p == "GET /a/{x+}/b: no integration" for p in problems), problems
    good = {
        "/api/v1/workflows/{id}/{proxy+}": bad["/api/v1/workflows/{proxy+}"],
        "/api/v1/workflows/{id}/execute": bad["/api/v1/workflows/{id}/execute"],
    }
    assert tree_problems(good) == [], tree_problems(good)
    assert resolve(good, "POST", "/api/v1/workflows/x/execute") == ("/api/v1/workflows/{id}/execute", "post")
    assert resolve(good, "GET", "/api/v1/workflows/x/execute") is None
    assert resolve(good, "GET", "/api/v1/workflows/x/versions/2") == ("/api/v1/workflows/{id}/{proxy+}", "x-amazon-apigateway-any-method")
    assert resolve(good, "GET", "/api/v1/workflows/x") is None  # a greedy part needs at least one segment
    doc = {"paths": {"/api/v1/workflows/{id}/execute": {"post": {"operationId": "executions_execute_workflow"}},
                     "/api/v1/workflows/{id}/status": {"put": {"operationId": "executions_set_status"}}}}
    assert route_problems(good, doc) == [
        "PUT /api/v1/workflows/{id}/status (executions_set_status): API Gateway sends it to WorkflowsFunction "
        "through /api/v1/workflows/{id}/{proxy+}, but ExecutionsFunction serves it"], route_problems(good, doc)
    queues = {
        "Q": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": 180, "MessageRetentionPeriod": 1209600,
                                                        "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": ["D", "Arn"]}}}},
        "D": {"Type": "AWS::SQS::Queue", "Properties": {"MessageRetentionPeriod": 1209600}},
        "F": {"Type": "AWS::Lambda::Function", "Properties": {"Timeout": 60}},
        "M": {"Type": "AWS::Lambda::EventSourceMapping", "Properties": {"EventSourceArn": {"Fn::GetAtt": ["Q", "Arn"]}, "FunctionName": {"Ref": "F"}}},
    }
    problems = queue_problems(queues)
    assert any("visibility timeout 180 s < 6 x 60 s" in p for p in problems), problems
    assert any("not longer than the queue's" in p for p in problems), problems
    alarm = {"A": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"Namespace": "AWS/SQS", "MetricName": "QueueDepth",
                                                                    "Dimensions": [{"Name": "QueueName", "Value": "q"}], "AlarmActions": ["t"]}},
             "B": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"Namespace": "SaasIt", "MetricName": "RunsLost", "AlarmActions": ["t"]}}}
    problems = alarm_problems(alarm, "SaasIt", {"RunsStarted": {"Tier"}})
    assert any("AWS/SQS has no metric QueueDepth" in p for p in problems), problems
    assert any("emits no SaasIt metric RunsLost" in p for p in problems), problems
    wrong = {"C": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"Namespace": "SaasIt", "MetricName": "RunsStarted",
                                                                    "Dimensions": [{"Name": "Status", "Value": "x"}], "AlarmActions": ["t"]}}}
    problems = alarm_problems(wrong, "SaasIt", {"RunsStarted": {"Tier"}})
    assert any("emitted with dimensions ['Tier'], not ['Status']" in p for p in problems), problems
    fns = {
        "F": {"Type": "AWS::Lambda::Function", "Properties": {
            "Role": {"Fn::GetAtt": ["FRole", "Arn"]},
            "Environment": {"Variables": {"JWT_SECRET_FROM_SECRET": {"Fn::Sub": "${JwtSecretArn}#key"},
                                          "STRIPE_SECRET_KEY_FROM_SECRET": {"Fn::If": ["HasStripe", {"Fn::Sub": "${StripeSecretArn}#k"}, ""]},
                                          "DATABASE_IAM_HOST": "proxy", "EMAIL_FROM": "a@b.c"}}}},
        "FRole": {"Type": "AWS::IAM::Role", "Properties": {"ManagedPolicyArns": [{"Ref": "P"}], "Policies": []}},
        "P": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {"PolicyDocument": {"Statement": [
            {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": {"Ref": "JwtSecretArn"}}]}}},
    }
    problems = permission_problems(fns)
    assert len(problems) == 2, problems
    callbacks = {
        "D": {"Type": "AWS::Lambda::Function", "Properties": {"Environment": {"Variables": {
            "CALLBACK_URL": {"Fn::GetAtt": ["IUrl", "FunctionUrl"]}}}}},
        "I": {"Type": "AWS::Lambda::Function", "Properties": {}},
        "IUrl": {"Type": "AWS::Lambda::Url", "Properties": {"TargetFunctionArn": {"Ref": "I"}, "AuthType": "NONE"}},
        "IUrlPublicPermissions": {"Type": "AWS::Lambda::Permission", "Properties": {
            "Action": "lambda:InvokeFunctionUrl", "FunctionName": {"Ref": "I"}, "Principal": "*", "FunctionUrlAuthType": "NONE"}},
    }
    cb = callback_problems(callbacks)
    assert any("I: serves executor callbacks without a reserved concurrency" == p for p in cb), cb
    assert any("lacks lambda:InvokeFunctionUrl or lambda:InvokeFunction" in p for p in cb), cb
    callbacks["D"]["Properties"]["Environment"]["Variables"]["CALLBACK_URL"] = {"Fn::Sub": "https://${Api}/prod"}
    assert any("CALLBACK_URL is not a function URL" in p for p in callback_problems(callbacks)), callback_problems(callbacks)
    assert any("STRIPE_SECRET_KEY_FROM_SECRET (StripeSecretArn)" in p for p in problems), problems
    assert any("lacks rds-db:connect" in p for p in problems), problems
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        os.makedirs(os.path.join(d, "infra"))
        with open(os.path.join(d, "Cargo.toml"), "w") as fh:
            fh.write('[workspace.package]\nrust-version = "1.89"\n')
        with open(os.path.join(d, "infra/executor.Dockerfile"), "w") as fh:
            fh.write("ARG RUST_VERSION=1.85.0\nFROM rust:${RUST_VERSION}-bookworm\n")
        problems = image_problems(d, [((1, 94, 1), "aws-types 1.7.0")])
    assert any("older than aws-types 1.7.0 needs (1.94.1)" in p for p in problems), problems
    assert any("Rust 1.85.0 is older" in p for p in problems), problems
    assert any(".dockerignore: target is sent" in p for p in problems), problems
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    fn = lambda code, binary: {"Type": "AWS::Serverless::Function", "Metadata": {"BuildMethod": "rust-cargolambda", "BuildProperties": {"Binary": binary}}, "Properties": {"CodeUri": code}}
    problems = build_problems({"Resources": {"A": fn(".", "auth"), "B": fn("functions/auth", "nope"), "C": fn("functions/billing", "billing-webhook")}}, root)
    assert len(problems) == 2 and "unifies every package's features" in problems[0] and "no binary 'nope'" in problems[1], problems
    problems = operation_problems(
        {"Resources": {"Api": {"Type": "AWS::Serverless::Api", "Properties": {"MethodSettings": [{"ResourcePath": "/*"}]}}}},
        {"S": {"Type": "AWS::Lambda::Function", "Properties": {"Environment": {"Variables": {"DB_MIGRATE_ON_START": "false"}}}},
         "F": {"Type": "AWS::Lambda::Function", "Properties": {}},
         "E": {"Type": "AWS::Scheduler::Schedule", "Properties": {"Target": {"Arn": {"Fn::GetAtt": ["S", "Arn"]}}}}})
    assert len(problems) == 3 and "F: migrates" in problems[0] and "S: runs on a schedule" in problems[1] \
        and "callbacks share" in problems[2], problems
    print("deploy lint: self-test passed")


def main(argv):
    if argv[1:] == ["--self-test"]:
        self_test()
        return 0
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    source = argv[argv.index("--source") + 1] if "--source" in argv else os.path.dirname(os.path.abspath(argv[1]))
    with open(argv[2], encoding="utf-8") as fh:
        document = json.load(fh)
    problems = lint(argv[1], document, source)
    for p in problems:
        print(f"deploy lint: {p}", file=sys.stderr)
    if problems:
        print(f"deploy lint: {len(problems)} problem(s) AWS would refuse or that would break a deploy", file=sys.stderr)
        return 1
    print("deploy lint: template.yaml passes (REST and WebSocket APIs, functions, queues, alarms)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
