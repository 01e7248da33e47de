//! compatd over HTTP against an in-process corridord: engines, the
//! built-in profiles, a riscv64 program launched under QEMU user mode
//! that cannot read corridord's own keys, bad input as field problems,
//! stopping a program, and who may launch and see what.

use std::path::PathBuf;
use std::time::Duration;

mod common;

use common::clients::domain;
use common::problem::{Reply, assert_problem, send};
use common::server::{Options, Server};
use corridor_hal::compat::cross::shipped_program;
use corridor_pki::Principal;
use serde_json::{Value, json};

fn hello_riscv64() -> PathBuf {
    shipped_program("hello", "riscv64").unwrap()
}

async fn start() -> Server {
    let server = Options::default().domains(&["a", "b"]).start().await;
    let mut config = server.plane().compat.config().as_ref().clone();
    config.allowed_roots = vec![hello_riscv64().parent().unwrap().to_path_buf()];
    server.plane().compat.configure(config);
    server
}

async fn until_ended(server: &Server, id: &str) -> Value {
    for _ in 0..400 {
        let reply = Reply::read(
            server
                .admin()
                .get(server.url(&format!("/v1/compat/processes/{id}")))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        if reply.body["state"] != "running" {
            tokio::time::sleep(Duration::from_millis(50)).await;
            return Reply::read(
                server
                    .admin()
                    .get(server.url(&format!("/v1/compat/processes/{id}")))
                    .send()
                    .await
                    .unwrap(),
            )
            .await
            .body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{id} did not end")
}

#[tokio::test]
async fn engines_profiles_and_a_riscv64_launch() {
    let server = start().await;
    let admin = server.admin();
    let engines = Reply::read(
        admin
            .get(server.url("/v1/compat/engines"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(engines.status, 200);
    assert_eq!(engines.body[0]["engine"], "qemu");
    assert_eq!(engines.body[0]["installed"], true);
    assert_eq!(engines.body[1]["installed"], false);

    let profiles = Reply::read(
        admin
            .get(server.url("/v1/compat/profiles"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(profiles.status, 200);
    assert!(
        profiles
            .body
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == "riscv64-linux")
    );
    let rendered = Reply::read(
        admin
            .get(server.url("/v1/compat/profiles/x86_64-fex/render"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(rendered.body[3]["path"], "Config.json");

    // corridord's own TLS key, in its state directory.
    let key = server.state_dir().join("pki/server.key");
    assert!(key.exists());
    let body = json!({
        "exe": hello_riscv64(),
        "args": [format!("read:{}", key.display())],
    });
    let reply = send(
        admin,
        "POST",
        server.url("/v1/compat/processes"),
        &body.to_string(),
    )
    .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    assert_eq!(reply.body["profile"], "riscv64-linux");
    let id = reply.body["id"].as_str().unwrap().to_owned();
    let ended = until_ended(&server, &id).await;
    assert_eq!(ended["state"], "exited", "{ended}");
    assert_eq!(ended["exit"]["code"], 0);
    let output = ended["output"].as_str().unwrap();
    assert!(output.starts_with("hello from hello.riscv64\n"), "{output}");
    if ended["run_as"]["isolated"] == true {
        assert!(output.contains("denied (Permission denied)"), "{output}");
    }
    assert!(ended["usage"]["peak_rss_bytes"].as_u64().unwrap() > 0);
    // Counted by compatd's TCG plugin inside Debian's dynamic QEMU.
    assert_eq!(ended["tcg_plugin"], true);
    assert!(ended["usage"]["guest_instructions"].as_u64().unwrap() > 1000);
    assert!(ended["usage"]["blocks_translated"].as_u64().unwrap() > 10);
    server.stop().await;
}

#[tokio::test]
async fn bad_launches_name_the_field_and_endless_ones_stop() {
    let server = start().await;
    let admin = server.admin();
    let url = server.url("/v1/compat/processes");
    for (body, pointer) in [
        (json!({"exe": "/bin/true"}), "/exe"),
        (json!({"exe": "relative"}), "/exe"),
        (
            json!({"exe": hello_riscv64(), "profile": "aarch64-linux"}),
            "/profile",
        ),
        (
            json!({"exe": hello_riscv64(), "profile": "none-such"}),
            "/profile",
        ),
        (
            json!({"exe": hello_riscv64(), "timeout_s": 0}),
            "/timeout_s",
        ),
    ] {
        let reply = send(admin, "POST", url.clone(), &body.to_string()).await;
        assert_problem(&reply, 422);
        assert_eq!(reply.pointer(), pointer, "{body}: {:?}", reply.body);
    }
    let reply = send(
        admin,
        "POST",
        url.clone(),
        &json!({"exe": hello_riscv64(), "args": ["spin"]}).to_string(),
    )
    .await;
    assert_eq!(reply.status, 201);
    let id = reply.body["id"].as_str().unwrap();
    let stopped = Reply::read(
        admin
            .delete(server.url(&format!("/v1/compat/processes/{id}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(stopped.status, 200);
    assert_eq!(stopped.body["state"], "killed");
    assert_eq!(stopped.body["exit"]["signal"], 9);
    server.stop().await;
}

#[tokio::test]
async fn domains_launch_with_granting_profiles_and_see_their_own() {
    let server = start().await;
    let a = server.http(&domain("a"));
    let b = server.http(&domain("b"));
    let url = server.url("/v1/compat/processes");
    let body = json!({"exe": hello_riscv64()}).to_string();
    // No profile grants a domain yet; profiles themselves are the operators'.
    let reply = send(&a, "POST", url.clone(), &body).await;
    assert_problem(&reply, 422);
    let grant = json!({"name": "hello-for-a", "spec": {"guest_arch": "riscv64", "engine": "qemu", "match": {"exe": "hello*"}, "launch_domains": ["a"]}});
    assert_eq!(
        send(
            &a,
            "POST",
            server.url("/v1/compat/profiles"),
            &grant.to_string()
        )
        .await
        .status,
        403
    );
    let reply = send(
        server.admin(),
        "POST",
        server.url("/v1/compat/profiles"),
        &grant.to_string(),
    )
    .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let launched = send(&a, "POST", url.clone(), &body).await;
    assert_eq!(launched.status, 201, "{:?}", launched.body);
    assert_eq!(launched.body["security_domain"], "a");
    let id = launched.body["id"].as_str().unwrap();
    // Another domain's body is refused; another domain's process is a 404.
    let other = json!({"exe": hello_riscv64(), "security_domain": "b"}).to_string();
    assert_eq!(send(&a, "POST", url.clone(), &other).await.status, 403);
    let mine = Reply::read(a.get(url.clone()).send().await.unwrap()).await;
    assert_eq!(mine.body.as_array().unwrap().len(), 1);
    let theirs = Reply::read(b.get(url.clone()).send().await.unwrap()).await;
    assert_eq!(theirs.body, json!([]));
    let reply = Reply::read(
        b.get(server.url(&format!("/v1/compat/processes/{id}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(&reply, 404);
    let read_only = server.http(&Principal::ReadOnly);
    assert_eq!(
        send(&read_only, "POST", url.clone(), &body).await.status,
        403
    );
    server.stop().await;
}

#[tokio::test]
async fn binfmt_shows_the_host_table_and_a_launch_goes_through_a_private_registration() {
    let server = start().await;
    let admin = server.admin();
    let status = Reply::read(
        admin
            .get(server.url("/v1/compat/binfmt"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status.status, 200, "{:?}", status.body);
    assert_eq!(status.body["host"]["path"], "/proc/sys/fs/binfmt_misc");
    assert_eq!(status.body["private_instances"], true);
    let riscv = status.body["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["profile"] == "riscv64-linux")
        .unwrap()
        .clone();
    assert!(
        riscv["registration"]
            .as_str()
            .unwrap()
            .starts_with(":corridor-riscv64-linux:M:0:"),
        "{riscv}"
    );
    // A tenant does not read the host's table.
    let tenant = Reply::read(
        server
            .http(&domain("a"))
            .get(server.url("/v1/compat/binfmt"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(tenant.status, 403);
    // The host's own table is off limits unless configured.
    let refused = send(
        admin,
        "PUT",
        server.url("/v1/compat/binfmt/riscv64-linux"),
        "",
    )
    .await;
    assert_problem(&refused, 409);
    assert_eq!(
        refused.body["reason"], "SystemWideOff",
        "{:?}",
        refused.body
    );

    let reply = send(
        admin,
        "POST",
        server.url("/v1/compat/processes"),
        &json!({"exe": hello_riscv64(), "binfmt": true}).to_string(),
    )
    .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    assert_eq!(reply.body["binfmt"], true);
    let id = reply.body["id"].as_str().unwrap().to_owned();
    let ended = until_ended(&server, &id).await;
    assert_eq!(ended["exit"]["code"], 0, "{ended}");
    // The kernel named the program by its path, as binfmt_misc does.
    let path = std::fs::canonicalize(hello_riscv64()).unwrap();
    assert_eq!(
        ended["output"],
        format!("hello from {}\n", path.display()),
        "{ended}"
    );
    let bad = send(
        admin,
        "POST",
        server.url("/v1/compat/processes"),
        &json!({"exe": hello_riscv64(), "binfmt": "yes"}).to_string(),
    )
    .await;
    assert_problem(&bad, 422);
    assert_eq!(bad.pointer(), "/binfmt", "{:?}", bad.body);
    server.stop().await;
}
