//! Running a container from an image (Kitematic's "create": name, ports, volumes, environment
//! and a command), each field in the docker CLI's own syntax and checked before anything is
//! made. A container that cannot start is removed again: nothing half-made is left behind.

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptions, RemoveContainerOptions, StartContainerOptions,
};
use serde::{Deserialize, Serialize};

use super::{check_reference, object_error};
use crate::error::{Error, Result};

/// What the run form asks; every list in `docker run`'s syntax.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RunRequest {
    pub image: String,
    /// Empty: Docker picks one.
    pub name: String,
    /// A shell-style command line; empty: the image's own.
    pub command: String,
    /// `HOST:CONTAINER[/udp]`, `IP:HOST:CONTAINER`, or `CONTAINER` (a free host port).
    pub ports: Vec<String>,
    /// `SOURCE:/path[:ro]`: a path on the machine, or a volume's name.
    pub volumes: Vec<String>,
    /// `KEY=value`.
    pub env: Vec<String>,
}

/// A published port as `docker run -p` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Publish {
    host_ip: String,
    host_port: String,
    container: String,
}

fn parse_port(spec: &str) -> Result<Publish> {
    let bad = || {
        Error::invalid(format!("port \"{spec}\" is not a port to publish")).with_hint(
            "write HOST:CONTAINER (8080:80), add /udp for UDP, or just CONTAINER for any free port",
        )
    };
    let (ports, proto) = match spec.trim().split_once('/') {
        Some((p, proto @ ("tcp" | "udp" | "sctp"))) => (p, proto),
        Some(_) => return Err(bad()),
        None => (spec.trim(), "tcp"),
    };
    let parts: Vec<&str> = ports.rsplitn(3, ':').collect();
    let number = |s: &str| s.parse::<u16>().ok().filter(|p| *p > 0);
    let (host_ip, host_port, container) = match parts.as_slice() {
        [c] => ("", "", *c),
        [c, h] => ("", *h, *c),
        [c, h, ip] => (*ip, *h, *c),
        _ => return Err(bad()),
    };
    if number(container).is_none() || (!host_port.is_empty() && number(host_port).is_none()) {
        return Err(bad());
    }
    if !host_ip.is_empty() && host_ip.parse::<std::net::IpAddr>().is_err() {
        return Err(bad());
    }
    Ok(Publish {
        host_ip: host_ip.to_string(),
        host_port: host_port.to_string(),
        container: format!("{container}/{proto}"),
    })
}

fn check_volume(spec: &str) -> Result<String> {
    let spec = spec.trim();
    let parts: Vec<&str> = spec.split(':').collect();
    let ok = match parts.as_slice() {
        [src, dst] | [src, dst, "ro" | "rw"] => !src.is_empty() && dst.starts_with('/'),
        _ => false,
    };
    if ok {
        Ok(spec.to_string())
    } else {
        Err(
            Error::invalid(format!("volume \"{spec}\" is not a mount")).with_hint(
                "write SOURCE:/path/in/container, with :ro for read-only; SOURCE is a path on \
                 the machine or a volume's name",
            ),
        )
    }
}

fn check_env(spec: &str) -> Result<String> {
    match spec.split_once('=') {
        Some((key, _)) if !key.is_empty() && !key.contains(char::is_whitespace) => {
            Ok(spec.to_string())
        }
        _ => Err(
            Error::invalid(format!("\"{spec}\" is not an environment variable"))
                .with_hint("write KEY=value"),
        ),
    }
}

/// Docker's rule for container names.
fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(
            Error::invalid(format!("\"{name}\" is not a container name"))
                .with_hint("use letters, digits, and . _ - (not first)"),
        )
    }
}

/// The container `req` describes, checked field by field.
fn container_body(req: &RunRequest) -> Result<ContainerCreateBody> {
    check_reference(req.image.trim())?;
    let nonblank = |v: &Vec<String>| -> Vec<String> {
        v.iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let cmd = match req.command.trim() {
        "" => None,
        line => Some(shlex::split(line).ok_or_else(|| {
            Error::invalid(format!("the command \"{line}\" has an unclosed quote"))
        })?),
    };
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for spec in nonblank(&req.ports) {
        let p = parse_port(&spec)?;
        bindings
            .entry(p.container)
            .or_insert_with(|| Some(vec![]))
            .get_or_insert_default()
            .push(PortBinding {
                host_ip: Some(p.host_ip),
                host_port: Some(p.host_port),
            });
    }
    let binds = nonblank(&req.volumes)
        .iter()
        .map(|v| check_volume(v))
        .collect::<Result<Vec<_>>>()?;
    let env = nonblank(&req.env)
        .iter()
        .map(|e| check_env(e))
        .collect::<Result<Vec<_>>>()?;
    Ok(ContainerCreateBody {
        image: Some(req.image.trim().to_string()),
        cmd,
        env: Some(env),
        exposed_ports: Some(bindings.keys().cloned().collect()),
        host_config: Some(HostConfig {
            port_bindings: Some(bindings),
            binds: Some(binds),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// Creates and starts the container; its ID.
pub async fn run(docker: &Docker, req: &RunRequest) -> Result<String> {
    let name = req.name.trim();
    if !name.is_empty() {
        check_name(name)?;
    }
    let body = container_body(req)?;
    let image = req.image.trim();
    let made = docker
        .create_container(
            Some(CreateContainerOptions {
                name: (!name.is_empty()).then(|| name.to_string()),
                ..Default::default()
            }),
            body,
        )
        .await
        .map_err(|e| match &e {
            bollard::errors::Error::DockerResponseServerError {
                status_code: 409,
                message,
            } => Error::new(
                crate::error::ErrorKind::AlreadyExists,
                format!("a container named \"{name}\" exists already ({message})"),
            )
            .with_hint("pick another name, or leave it empty for one Docker picks"),
            _ => object_error("image", image, &e),
        })?;
    if let Err(e) = docker
        .start_container(&made.id, None::<StartContainerOptions>)
        .await
    {
        // A port already taken, a missing command: the container it left is of no use.
        let _ = docker
            .remove_container(
                &made.id,
                Some(RemoveContainerOptions {
                    force: true,
                    ..Default::default()
                }),
            )
            .await;
        return Err(object_error("container", name, &e)
            .context("the container was made but could not start, so it was removed again"));
    }
    Ok(made.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_read_as_docker_run_reads_them() {
        let p = parse_port("8080:80").unwrap();
        assert_eq!(
            (p.host_port.as_str(), p.container.as_str()),
            ("8080", "80/tcp")
        );
        let p = parse_port("127.0.0.1:53:53/udp").unwrap();
        assert_eq!(
            (
                p.host_ip.as_str(),
                p.host_port.as_str(),
                p.container.as_str()
            ),
            ("127.0.0.1", "53", "53/udp")
        );
        assert_eq!(parse_port("80").unwrap().host_port, "");
        for bad in [
            "",
            "http",
            "80:0",
            "99999:80",
            "80/xyz",
            "nothost:80:80",
            "1:2:3:4",
        ] {
            assert!(parse_port(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn volumes_env_and_names_are_checked_before_docker_sees_them() {
        assert!(check_volume("/srv/www:/usr/share/nginx/html:ro").is_ok());
        assert!(check_volume("data:/data").is_ok());
        for bad in ["/srv", "data:relative", ":/x", "a:/b:rx"] {
            assert!(check_volume(bad).is_err(), "{bad}");
        }
        assert!(check_env("A=1").is_ok() && check_env("EMPTY=").is_ok());
        assert!(check_env("=1").is_err() && check_env("NOEQUALS").is_err());
        assert!(check_name("web-1").is_ok());
        assert!(check_name("-web").is_err() && check_name("a/b").is_err());
    }

    #[test]
    fn the_body_carries_every_field() {
        let b = container_body(&RunRequest {
            image: "berth-test/busybox".into(),
            command: "sh -c 'echo hi; sleep 1'".into(),
            ports: vec!["8080:80".into(), " ".into()],
            env: vec!["A=1".into()],
            volumes: vec!["data:/data".into()],
            ..Default::default()
        })
        .unwrap();
        assert_eq!(b.cmd.unwrap(), ["sh", "-c", "echo hi; sleep 1"]);
        assert_eq!(b.exposed_ports.unwrap(), ["80/tcp"]);
        let hc = b.host_config.unwrap();
        assert_eq!(hc.binds.unwrap(), ["data:/data"]);
        assert!(
            container_body(&RunRequest {
                image: "x".into(),
                command: "sh -c 'open".into(),
                ..Default::default()
            })
            .is_err()
        );
    }
}
