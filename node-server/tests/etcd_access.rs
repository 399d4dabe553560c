//! Logging in to etcd: user and password, and TLS with a client certificate (a private CA
//! made with `openssl` for the test), against a real etcd on loopback.
#![cfg(feature = "etcd")]

#[path = "util/etcd.rs"]
mod etcd_util;
#[path = "util/netns.rs"]
mod netns;

use std::path::Path;
use std::process::Command;

use etcd_util::claim;
use netns::EtcdCluster;
use node_server::etcd::Decided as Decision;
use node_server::etcd::{EtcdError, EtcdOptions, Store, TlsFiles};

fn ctl(etcd: &EtcdCluster, args: &[&str]) {
    let out = etcd.etcdctl(0, args);
    assert!(
        out.status.success(),
        "etcdctl {}: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn with_user(etcd: &EtcdCluster, prefix: &str, user: &str, password: &str) -> EtcdOptions {
    let mut o = EtcdOptions::new(etcd.endpoints());
    o.prefix = prefix.into();
    o.user = Some((user.into(), password.into()));
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_refused_and_the_right_one_decides_races() {
    let etcd = EtcdCluster::loopback(1);
    // A user with read-write on /powrace/ only, as an operator would set it up.
    ctl(&etcd, &["user", "add", "root:rootpw"]);
    ctl(&etcd, &["user", "add", "alice:secret"]);
    ctl(&etcd, &["role", "add", "racer"]);
    ctl(
        &etcd,
        &[
            "role",
            "grant-permission",
            "racer",
            "--prefix=true",
            "readwrite",
            "/powrace/",
        ],
    );
    ctl(&etcd, &["user", "grant-role", "alice", "racer"]);
    ctl(&etcd, &["auth", "enable"]);

    let err = match Store::connect(with_user(&etcd, "/powrace/", "alice", "wrong")).await {
        Err(e) => e,
        Ok(_) => panic!("a wrong password was accepted"),
    };
    eprintln!("wrong password: {err}");
    assert!(matches!(err, EtcdError::Refused { .. }), "{err:?}");
    assert!(err.to_string().contains("authentication failed"), "{err}");
    assert!(!err.is_unavailable(), "retrying will not help: {err}");

    // No password at all: the cluster refuses the read.
    let mut anonymous = EtcdOptions::new(etcd.endpoints());
    anonymous.prefix = "/powrace/".into();
    let err = Store::connect(anonymous).await.err().expect("refused");
    assert!(matches!(err, EtcdError::Refused { .. }), "{err:?}");

    // The right password, outside alice's prefix: permission denied.
    let err = Store::connect(with_user(&etcd, "/elsewhere/", "alice", "secret"))
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, EtcdError::Refused { .. }), "{err:?}");
    assert!(err.to_string().contains("permission denied"), "{err}");

    let store = Store::connect(with_user(&etcd, "/powrace/", "alice", "secret"))
        .await
        .unwrap();
    assert!(matches!(
        store.claim(claim("Node1", "logged in")).await.unwrap(),
        Decision::Won(_)
    ));
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA named `name` in `dir`, and a certificate it signs for `who` with `ext` (extensions).
fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

fn make_cert(dir: &Path, ca: &str, who: &str, ext: &str) {
    std::fs::write(dir.join(format!("{who}.ext")), ext).unwrap();
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{who}.key"),
            "-out",
            &format!("{who}.csr"),
            "-subj",
            &format!("/CN={who}"),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{who}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-out",
            &format!("{who}.pem"),
            "-days",
            "2",
            "-extfile",
            &format!("{who}.ext"),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_client_certificate_works_and_anything_less_is_an_error() {
    let certs = tempfile::tempdir().unwrap();
    let d = certs.path();
    make_ca(d, "ca");
    make_ca(d, "other-ca");
    make_cert(
        d,
        "ca",
        "server",
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n",
    );
    make_cert(
        d,
        "ca",
        "client",
        "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n",
    );
    let p = |f: &str| d.join(f).display().to_string();
    let etcd = EtcdCluster::loopback_with(
        1,
        &[
            format!("--cert-file={}", p("server.pem")),
            format!("--key-file={}", p("server.key")),
            format!("--trusted-ca-file={}", p("ca.pem")),
            "--client-cert-auth".into(),
        ],
        &[
            format!("--cacert={}", p("ca.pem")),
            format!("--cert={}", p("client.pem")),
            format!("--key={}", p("client.key")),
        ],
    );
    assert!(etcd.endpoint(0).starts_with("https://127.0.0.1:"));
    let tls = |ca: &str, client: bool| TlsFiles {
        ca: Some(d.join(ca)),
        cert: client.then(|| d.join("client.pem")),
        key: client.then(|| d.join("client.key")),
        domain: None,
    };
    let options = |files: Option<TlsFiles>| {
        let mut o = EtcdOptions::new(etcd.endpoints());
        o.tls = files;
        o
    };

    let store = Store::connect(options(Some(tls("ca.pem", true))))
        .await
        .unwrap();
    assert!(matches!(
        store.claim(claim("Node1", "over TLS")).await.unwrap(),
        Decision::Won(_)
    ));

    // No client certificate: the member refuses the handshake.
    let err = Store::connect(options(Some(tls("ca.pem", false))))
        .await
        .err()
        .expect("no client cert");
    eprintln!("no client certificate: {err}");
    assert!(err.is_unavailable(), "{err:?}");
    // A CA that did not sign the member's certificate: the client refuses the member.
    let err = Store::connect(options(Some(tls("other-ca.pem", true))))
        .await
        .err()
        .expect("wrong CA");
    eprintln!("wrong CA: {err}");
    assert!(err.is_unavailable(), "{err:?}");
    // Files that are not there, or a certificate without its key: a configuration error.
    let err = Store::connect(options(Some(tls("missing.pem", true))))
        .await
        .err()
        .expect("missing");
    assert!(
        matches!(&err, EtcdError::Config(m) if m.contains("missing.pem")),
        "{err:?}"
    );
    let mut half = tls("ca.pem", true);
    half.key = None;
    assert!(matches!(
        Store::connect(options(Some(half))).await,
        Err(EtcdError::Config(_))
    ));
    // TLS options with an http:// endpoint are refused, not silently ignored.
    let mut plain = options(Some(tls("ca.pem", true)));
    plain.endpoints = vec![etcd.endpoint(0).replace("https://", "http://")];
    assert!(matches!(
        Store::connect(plain).await,
        Err(EtcdError::Config(_))
    ));
}
