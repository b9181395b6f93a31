"""Neo4j 5.26 Community with Neo4j Browser and APOC, assembled from Maven Central jars.

The official tarball is not on Central, so the server runs from its jars with the
flags the stock launcher would pass. Auth is always on: the initial password is
set before the first start (Neo4j ignores it afterwards).
"""

from __future__ import annotations

import os

import httpx
from neo4j import GraphDatabase

from fraudgraph.stack.errors import StackError
from fraudgraph.stack.install import maven_fetch, run_checked
from fraudgraph.stack.java import java_binary
from fraudgraph.stack.ports import port_is_open
from fraudgraph.stack.service import Service
from fraudgraph.stack.templates import ASSETS_DIR, render

NEO4J_ASSETS = ASSETS_DIR / "neo4j"

# What bin/neo4j would add (minus pre-touch and diagnostics): without the
# java.nio opening, the page cache falls back to a slower mode.
JVM_FLAGS = [
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+UnlockExperimentalVMOptions",
    "-XX:+TrustFinalNonStaticFields",
    "-XX:+DisableExplicitGC",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Djdk.tls.ephemeralDHKeySize=2048",
    "-Djdk.tls.rejectClientInitiatedRenegotiation=true",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "-Dlog4j2.disable.jmx=true",
    "-Dfile.encoding=UTF-8",
]
MIN_PASSWORD_LENGTH = 8  # Neo4j refuses shorter initial passwords


class Neo4jService(Service):
    name = "neo4j"
    stop_timeout_s = 90.0

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.config.neo4j_bolt_port, self.config.neo4j_http_port)

    @property
    def bolt_uri(self) -> str:
        return f"bolt://{self.config.host}:{self.config.neo4j_bolt_port}"

    @property
    def browser_url(self) -> str:
        return f"http://{self.config.host}:{self.config.neo4j_http_port}/browser/"

    def install(self) -> None:
        java_binary()
        root = self.config.downloads_dir / "neo4j"
        maven_fetch(
            NEO4J_ASSETS / "pom.xml",
            [
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={root / 'lib'}",
            ],
            marker=root / "lib" / ".fetched",
        )
        maven_fetch(
            NEO4J_ASSETS / "plugins-pom.xml",
            [
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={root / 'plugins'}",
            ],
            marker=root / "plugins" / ".fetched",
        )

    def launch(self) -> None:
        java = java_binary()
        root = self.config.downloads_dir / "neo4j"
        conf_dir = self.home / "conf"
        for folder in ("data", "logs", "run", "import", "licenses"):
            (self.home / folder).mkdir(parents=True, exist_ok=True)
        render(
            NEO4J_ASSETS / "neo4j.conf.template",
            conf_dir / "neo4j.conf",
            {
                "STATE_DIR": str(self.home),
                "BOLT_PORT": str(self.config.neo4j_bolt_port),
                "HTTP_PORT": str(self.config.neo4j_http_port),
                "PAGECACHE": self.config.neo4j_pagecache,
                "LIB_DIR": str(root / "lib"),
                "PLUGINS_DIR": str(root / "plugins"),
            },
        )
        classpath = f"{root / 'plugins'}/*:{conf_dir}/*:{root / 'lib'}/*"
        if not (self.home / "data" / "dbms" / "auth.ini").exists():
            self._set_initial_password(java, classpath, conf_dir)
        self.process.start(
            [
                java,
                "-Xms256m",
                f"-Xmx{self.config.neo4j_heap}",
                "-XX:+UseG1GC",
                *JVM_FLAGS,
                "-cp",
                classpath,
                "org.neo4j.server.CommunityEntryPoint",
                f"--home-dir={self.home}",
                f"--config-dir={conf_dir}",
                "--console-mode",
            ]
        )

    def _set_initial_password(self, java: str, classpath: str, conf_dir: os.PathLike[str]) -> None:
        password = self.secrets.neo4j_password
        if len(password) < MIN_PASSWORD_LENGTH:
            raise StackError(f"NEO4J_PASSWORD must have at least {MIN_PASSWORD_LENGTH} characters")
        run_checked(
            [
                java,
                "-Xmx256m",
                "-cp",
                classpath,
                "org.neo4j.cli.AdminTool",
                "dbms",
                "set-initial-password",
                # A generated password starts with "-" one time in 64 (token_urlsafe);
                # after "--" neo4j-admin reads it as the password, not an option.
                "--",
                password,
            ],
            what="neo4j set-initial-password",
            env={**os.environ, "NEO4J_HOME": str(self.home), "NEO4J_CONF": str(conf_dir)},
        )

    def is_ready(self) -> bool:
        return port_is_open(self.config.neo4j_bolt_port, self.config.host) and self.is_healthy()

    def is_healthy(self) -> bool:
        auth = ("neo4j", self.secrets.neo4j_password)
        with GraphDatabase.driver(self.bolt_uri, auth=auth, connection_timeout=3) as driver:
            records, _, _ = driver.execute_query("RETURN 1 AS ok")
            return bool(records and records[0]["ok"] == 1)

    def browser_served(self) -> bool:
        response = httpx.get(self.browser_url, timeout=5)
        return response.status_code == 200 and "Neo4j Browser" in response.text

    def detail(self) -> str:
        source = self.secrets.sources["neo4j_password"]
        return f"{self.browser_url} user neo4j (password: {source})"
