//! A port forward in Berth's own process, for VMs whose hypervisor has no NAT rule to add
//! (Hyper-V: the VM has its own address on the virtual switch). It runs in the port agent:
//! a listener on this computer's port, and per connection a connection to the VM's port, with
//! bytes copied both ways. TCP only.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::workspace::{PortSpec, Proto};
use crate::error::{Error, Result};

#[derive(Default)]
pub struct Proxies {
    listeners: Mutex<HashMap<PortSpec, JoinHandle<()>>>,
}

impl Proxies {
    /// Listens on `spec` and forwards each connection to `target` (`host:port`).
    pub async fn add(&self, spec: &PortSpec, target: String) -> Result<()> {
        if spec.proto == Proto::Udp {
            return Err(Error::invalid(format!(
                "UDP is not forwarded for this VM: reach udp port {} at {}",
                spec.port,
                target.rsplit_once(':').map_or(target.as_str(), |(h, _)| h)
            )));
        }
        let listener = TcpListener::bind((spec.host_ip.as_str(), spec.port))
            .await
            .map_err(|e| super::workspace::bind_error(spec, &e))?;
        let task = tokio::spawn(serve(listener, target));
        if let Ok(mut l) = self.listeners.lock()
            && let Some(old) = l.insert(spec.clone(), task)
        {
            old.abort();
        }
        Ok(())
    }

    /// Stops listening (connections already made run until they close).
    pub fn remove(&self, spec: &PortSpec) {
        if let Ok(mut l) = self.listeners.lock()
            && let Some(task) = l.remove(spec)
        {
            task.abort();
        }
    }
}

impl Drop for Proxies {
    fn drop(&mut self) {
        if let Ok(l) = self.listeners.lock() {
            l.values().for_each(JoinHandle::abort);
        }
    }
}

async fn serve(listener: TcpListener, target: String) {
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            continue;
        };
        let target = target.clone();
        tokio::spawn(async move {
            if let Ok(mut outbound) = TcpStream::connect(&target).await {
                let _ = inbound.set_nodelay(true);
                let _ = outbound.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn spec(port: u16) -> PortSpec {
        PortSpec {
            proto: Proto::Tcp,
            host_ip: "127.0.0.1".into(),
            port,
        }
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("port")
    }

    /// Bytes go both ways through the forward; removing it frees the port; a taken port is
    /// refused with the reason; UDP says where to reach the VM instead.
    #[tokio::test]
    async fn a_forward_carries_bytes_both_ways_and_frees_its_port() {
        // The "VM": an echo server that upper-cases.
        let vm = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let vm_addr = vm.local_addr().expect("addr").to_string();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = vm.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n].to_ascii_uppercase()).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let p = Proxies::default();
        let port = free_port();
        p.add(&spec(port), vm_addr.clone()).await.expect("forward");
        let mut c = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        c.write_all(b"hello").await.expect("write");
        let mut got = [0u8; 5];
        c.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"HELLO");

        let err = p
            .add(&spec(port), vm_addr.clone())
            .await
            .expect_err("taken");
        assert!(err.message().contains("in use on this computer"), "{err}");
        p.remove(&spec(port));
        tokio::task::yield_now().await;
        let mut freed = false;
        for _ in 0..50 {
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                freed = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(freed, "the port is free after remove");
        let udp = PortSpec {
            proto: Proto::Udp,
            ..spec(port)
        };
        let err = p.add(&udp, "127.0.0.1:9".into()).await.expect_err("udp");
        assert!(err.message().contains("reach udp port"), "{err}");
    }
}
