//! The fabric's bandwidth ledger: one store key per switch port a path crosses, holding
//! each path's guaranteed Gb/s on it.
//!
//! A grant reads the ledger, routes over what is free, and writes the path object and every
//! port key it changes in one transaction that compares each key's revision as read (or its
//! absence): two grants racing for the last Gb/s of a port cannot both commit, on one
//! corridord or several on one store.

use std::collections::{BTreeMap, HashMap};

use corridor_model::fabric::FabricPath;
use corridor_store::{Compare, CompareOp, KeyValue, Op, RangeRequest, StateStore, Txn};
use serde::{Deserialize, Serialize};

use super::graph::FabricMap;
use crate::{Registry, ServiceError};

pub const LEDGER_PREFIX: &str = "/ledger/fabric/ports/";

pub fn port_key(switch: &str, number: u16) -> String {
    format!("{LEDGER_PREFIX}{switch}/{number}")
}

/// The value of a port key: path id → guaranteed Gb/s.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PortShares {
    pub shares: BTreeMap<String, f64>,
}

impl PortShares {
    pub fn held_gbps(&self) -> f64 {
        self.shares.values().sum()
    }
}

/// The ledger as read at one revision: each port key's shares and `mod_revision`.
#[derive(Debug, Clone, Default)]
pub struct LedgerView {
    ports: HashMap<String, (PortShares, i64)>,
}

impl LedgerView {
    pub async fn read(store: &dyn StateStore) -> Result<Self, ServiceError> {
        let response = store
            .range(RangeRequest::prefix(LEDGER_PREFIX))
            .await
            .map_err(ServiceError::store("read the fabric bandwidth ledger"))?;
        let mut ports = HashMap::new();
        for kv in response.kvs {
            let shares: PortShares =
                serde_json::from_slice(&kv.value).map_err(|source| ServiceError::Corrupt {
                    kind: "fabric ledger",
                    key: kv.key.clone(),
                    source,
                })?;
            ports.insert(kv.key, (shares, kv.mod_revision));
        }
        Ok(LedgerView { ports })
    }

    /// What is held on the port key.
    pub fn held_gbps(&self, key: &str) -> f64 {
        self.shares_of(key).map_or(0.0, PortShares::held_gbps)
    }

    /// The shares on the port key, if any path ever held it.
    pub fn shares_of(&self, key: &str) -> Option<&PortShares> {
        self.ports.get(key).map(|(s, _)| s)
    }

    /// Each port key and its shares.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &PortShares)> {
        self.ports.iter().map(|(k, (s, _))| (k.as_str(), s))
    }

    fn compare(&self, key: &str) -> Compare {
        match self.ports.get(key) {
            Some((_, revision)) => Compare::mod_revision(key, CompareOp::Equal, *revision),
            None => Compare::absent(key),
        }
    }

    fn with(&self, key: &str, path: &str, gbps: Option<f64>) -> Op {
        let mut shares = self
            .ports
            .get(key)
            .map(|(s, _)| s.clone())
            .unwrap_or_default();
        match gbps {
            Some(g) => {
                shares.shares.insert(path.to_owned(), g);
            }
            None => {
                shares.shares.remove(path);
            }
        }
        if shares.shares.is_empty() {
            return Op::Delete {
                key: key.to_owned(),
            };
        }
        Op::Put {
            key: key.to_owned(),
            value: serde_json::to_vec(&shares).expect("port shares serialise"),
            lease: None,
        }
    }
}

/// The port keys a path holds, from its hops.
pub fn keys_of(path: &FabricPath) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for hop in &path.hops {
        for port in [hop.ingress_port, hop.egress_port] {
            let key = port_key(&hop.switch_id, port);
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    keys
}

/// The port key of a graph port.
pub fn key_of_port(map: &FabricMap, port: usize) -> String {
    let p = &map.graph.ports()[port];
    port_key(&map.graph.switches()[p.switch], p.number.into())
}

/// The grant: the new path object (absent before) and its share on every port key of its
/// hops, each key at the revision the route was planned on.
pub fn grant_txn(view: &LedgerView, path: &FabricPath) -> Txn {
    let key = Registry::<FabricPath>::key(&path.id);
    let gbps = path.qos.min_bandwidth_gbps.get();
    let mut compares = vec![Compare::absent(key.clone())];
    let mut ops = vec![Op::Put {
        key,
        value: serde_json::to_vec(path).expect("API types serialise"),
        lease: None,
    }];
    for port in keys_of(path) {
        compares.push(view.compare(&port));
        ops.push(view.with(&port, &path.id, Some(gbps)));
    }
    Txn {
        compares,
        success: ops,
        failure: Vec::new(),
    }
}

/// The release: the path object (at the revision read) deleted and its share taken off
/// every port key, in one transaction.
pub fn release_txn(view: &LedgerView, path: &FabricPath, revision: i64) -> Txn {
    let key = Registry::<FabricPath>::key(&path.id);
    let mut compares = vec![Compare::mod_revision(
        key.clone(),
        CompareOp::Equal,
        revision,
    )];
    let mut ops = vec![Op::Delete { key }];
    for port in keys_of(path) {
        compares.push(view.compare(&port));
        ops.push(view.with(&port, &path.id, None));
    }
    Txn {
        compares,
        success: ops,
        failure: Vec::new(),
    }
}

/// A reroute: the path object (at the revision read) rewritten with its new hops, its share
/// taken off the ports it leaves and put on the ports it joins (those it keeps unchanged), in
/// one transaction comparing every key it touches.
pub fn reroute_txn(view: &LedgerView, old: &FabricPath, new: &FabricPath, kv: &KeyValue) -> Txn {
    let mut compares = vec![Compare::mod_revision(
        kv.key.clone(),
        CompareOp::Equal,
        kv.mod_revision,
    )];
    let mut ops = vec![Op::Put {
        key: kv.key.clone(),
        value: serde_json::to_vec(new).expect("API types serialise"),
        lease: kv.lease,
    }];
    let (before, after) = (keys_of(old), keys_of(new));
    let gbps = new.qos.min_bandwidth_gbps.get();
    for port in before.iter().filter(|k| !after.contains(k)) {
        compares.push(view.compare(port));
        ops.push(view.with(port, &old.id, None));
    }
    for port in after.iter().filter(|k| !before.contains(k)) {
        compares.push(view.compare(port));
        ops.push(view.with(port, &new.id, Some(gbps)));
    }
    Txn {
        compares,
        success: ops,
        failure: Vec::new(),
    }
}
