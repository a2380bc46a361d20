"""Saved CloudWatch Logs Insights queries, each named for the question it answers (DuoMfa/STACK/question): who failed
to log in and why, every fail-open, push denies and timeouts, dropped requests by client, and what the control plane
did for one rotation. Field names and values come from duomfa.logline; a test checks them against real log lines
(docs/operate.md, "Saved queries")."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Aws, Fn
from aws_cdk import aws_logs as logs
from constructs import Construct

from duomfa import emf, logline

PROXY, CONTROL_PLANE = "proxy", "control plane"  # whose log groups a query reads
VERSION_PLACEHOLDER = "PASTE-VERSION-ID-HERE"  # the user replaces it before running the rotation query
ROWS = 1000


def either(field: str, values: Sequence[str]) -> str:
    return "(" + " or ".join(f'{field} = "{value}"' for value in values) + ")"


@dataclass(frozen=True)
class SavedQuery:
    question: str  # the query's name below DuoMfa/STACK/
    reads: str  # whose log groups: PROXY or CONTROL_PLANE
    query: logs.QueryString

    @property
    def construct_id(self) -> str:
        """The question's words before any parenthesis, in CamelCase."""
        return "".join(word.capitalize() for word in re.findall(r"[A-Za-z]+", self.question.partition("(")[0]))

    @property
    def text(self) -> str:
        return self.query.to_string()


EVENT, AUTH = logline.EVENT, logline.AUTH
QUERIES = (
    SavedQuery("Failed logins by user and reason", PROXY, logs.QueryString(
        filter_statements=[f'{EVENT} = "{AUTH}" and {logline.RESULT} = "{logline.REJECT}"'],
        stats_statements=[f"count(*) as failures, count_distinct({logline.CLIENT}) as clients, "
                          f"max(@timestamp) as last by {logline.USERNAME}, {logline.REASON}"],
        sort="failures desc", limit=ROWS)),
    SavedQuery("All fail-opens", PROXY, logs.QueryString(
        fields=["@timestamp", logline.USERNAME, logline.CLIENT, logline.REASON],
        filter_statements=[f'{EVENT} = "{logline.FAIL_OPEN}"'],
        sort="@timestamp desc", limit=ROWS)),
    SavedQuery("Push denies and timeouts by user", PROXY, logs.QueryString(
        filter_statements=[f'{EVENT} = "{AUTH}"', either(logline.FACTOR, logline.PUSH_FACTORS),
                           either(logline.DUO_STATUS, logline.PUSH_REFUSALS)],
        stats_statements=[f"count(*) as refusals, max(@timestamp) as last by {logline.USERNAME}, {logline.REASON}"],
        sort="refusals desc", limit=ROWS)),
    # a client's first drop of a kind is one line with `first`; later ones are counted in a line a minute
    SavedQuery("Drops by client and reason", PROXY, logs.QueryString(
        filter_statements=[f'{EVENT} = "{logline.DROP_NOTICE}"'],
        stats_statements=[f"count(`{logline.DROP_FIRST}`) as first_drops, sum(`{logline.DROP_COUNT}`) as "
                          f"later_drops, max(@timestamp) as last by {logline.CLIENT}, {logline.REASON}"],
        sort="later_drops desc", limit=ROWS)),
    # the rotation names the version in every line, the updater in what it applies, the tracker in what it writes
    SavedQuery("Control-plane actions for one rotation (paste its version ID into the query)", CONTROL_PLANE,
               logs.QueryString(
                   fields=["@timestamp", "@log", EVENT, logline.LEVEL, logline.STEP, logline.VERSION,
                           logline.SECRET_VERSION, logline.FOUND, logline.DID],
                   filter_statements=[f'@message like "{VERSION_PLACEHOLDER}"'],
                   sort="@timestamp asc", limit=ROWS)),
)


def query_name(question: str) -> str:
    return Fn.join("/", [emf.NAMESPACE_PREFIX, Aws.STACK_NAME, question])


class SavedQueries(Construct):
    """The QUERIES as AWS::Logs::QueryDefinition, over the proxies' log group or the control plane's (the rotation's,
    the directory updater's and the address tracker's). Exposes `definitions` by question."""

    def __init__(self, scope: Construct, construct_id: str, *, proxy_logs: logs.ILogGroup,
                 control_plane_logs: Sequence[logs.ILogGroup]) -> None:
        super().__init__(scope, construct_id)
        groups = {PROXY: [proxy_logs], CONTROL_PLANE: list(control_plane_logs)}
        self.definitions = {
            spec.question: logs.QueryDefinition(
                self, spec.construct_id, query_definition_name=query_name(spec.question),
                query_string=spec.query, log_groups=groups[spec.reads])
            for spec in QUERIES}
