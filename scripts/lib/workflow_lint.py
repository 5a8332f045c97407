#!/usr/bin/env python3
"""Checks of the GitHub Actions workflows that a schema cannot make (actionlint
needs a download from GitHub, which the machines here cannot reach; the schema
itself is checked by check-jsonschema's vendored github-workflows schema):

  - no `${{ }}` expression inside a `run:` script (script injection: pass values
    through `env:` instead);
  - every job has a timeout-minutes;
  - the workflow's default token permissions are read-only;
  - a job that may mint an OIDC token (id-token: write) runs in a GitHub
    environment, so the AWS role's trust can name it.

Usage: workflow_lint.py FILE...   (exit 1 on a problem)
"""

import sys

import yaml


def problems_of(path, doc):
    out = []
    perms = doc.get("permissions")
    if perms not in ({"contents": "read"}, "read-all", {}):
        out.append(f"{path}: the default permissions must be read-only (permissions: contents: read), not {perms!r}")
    for name, job in (doc.get("jobs") or {}).items():
        if "timeout-minutes" not in job:
            out.append(f"{path}: job {name} has no timeout-minutes")
        job_perms = job.get("permissions") or {}
        if isinstance(job_perms, dict) and job_perms.get("id-token") == "write" and "environment" not in job:
            out.append(f"{path}: job {name} mints OIDC tokens outside a GitHub environment")
        for i, step in enumerate(job.get("steps") or []):
            script = step.get("run")
            if isinstance(script, str) and "${{" in script:
                out.append(f"{path}: job {name}, step {step.get('name', i + 1)}: an expression inside run: (pass it through env:)")
    return out


def main(paths):
    problems = []
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            problems += problems_of(path, yaml.safe_load(fh))
    for p in problems:
        print(f"workflow lint: {p}", file=sys.stderr)
    if not problems:
        print(f"workflow lint: {len(paths)} workflow(s) pass")
    return 1 if problems else 0


def self_test():
    bad = {"permissions": "write-all", "jobs": {"j": {"permissions": {"id-token": "write"},
                                                      "steps": [{"run": "echo ${{ github.event.issue.title }}"}]}}}
    got = problems_of("w.yml", bad)
    assert len(got) == 4, got


if __name__ == "__main__":
    self_test()
    sys.exit(main(sys.argv[1:]))
