//! One FM API query sent to one switch as an operator wrote it, answered decoded: the
//! "raw" verb for looking at what a switch reports without going through paths.
//!
//! Only queries go out. Commands that change the fabric (Bind/Unbind vPPB, Physical Port
//! Control, Set LD Allocations, Set QoS …) are fabmand's own: a binding or a QoS share
//! made behind its back would disagree with the ledger the paths were admitted on.

use corridor_attest::hex;
use corridor_hal::fabric::FabricError;
use corridor_model::fabric::{FmApiCommand, FmApiReply};
use corridor_model::validate::rule;
use corridor_protocols::fmapi::{Opcode, Request};

use super::{PathError, PathService, blocking, field};
use crate::ServiceError;

/// The request a command asks to send, or the field that is wrong with it.
fn request_of(command: &FmApiCommand) -> Result<(Request, &'static str), PathError> {
    let Some(value) = command.opcode_value() else {
        return Err(field(
            "/opcode",
            rule::FORMAT,
            "must be four hexadecimal digits and `h`, as in 5101h".to_owned(),
        ));
    };
    let opcode = Opcode(value);
    let name = opcode.name();
    let name = match name {
        Some(name) if opcode.is_query() => name,
        Some(name) if opcode == Opcode::TUNNEL_MANAGEMENT => {
            return Err(field(
                "/opcode",
                rule::ENUM,
                format!("{opcode} ({name}) is sent for you: give `tunnel_port`"),
            ));
        }
        Some(name) => {
            return Err(field(
                "/opcode",
                rule::ENUM,
                format!(
                    "{opcode} ({name}) changes the fabric, which fabmand owns: create or delete a path instead"
                ),
            ));
        }
        None => {
            return Err(field(
                "/opcode",
                rule::ENUM,
                format!("{opcode} is not an FM API command fabmand speaks"),
            ));
        }
    };
    let payload = hex::decode(&command.payload_hex).ok_or_else(|| {
        field(
            "/payload_hex",
            rule::FORMAT,
            "must be an even number of hexadecimal digits".to_owned(),
        )
    })?;
    let request = Request::decode(opcode, &payload).map_err(|e| {
        field(
            "/payload_hex",
            rule::COMPATIBLE,
            format!("not a {name} request: {e}"),
        )
    })?;
    Ok((request, name))
}

impl PathService {
    /// Sends one FM API query to switch `switch_id` (or the component behind its
    /// `tunnel_port`) and answers what came back; a return code other than Success is an
    /// answer too. Unknown switch: 404; a command that is not a query or a payload that
    /// does not decode as it: 422; the switch not answering: 503.
    pub async fn query_switch(
        &self,
        switch_id: &str,
        command: FmApiCommand,
    ) -> Result<FmApiReply, PathError> {
        let link = self
            .switches
            .get(switch_id)
            .cloned()
            .ok_or_else(|| ServiceError::NotFound {
                kind: "switch",
                id: switch_id.to_owned(),
            })?;
        let (request, name) = request_of(&command)?;
        let opcode = request.opcode();
        let tunnel_port = command.tunnel_port;
        let answer = blocking(move || {
            let mut client = link.connect()?;
            let result = match tunnel_port {
                Some(port) => client.tunnel(port, &request),
                None => client.call(&request),
            };
            match result {
                Ok(response) => Ok(Ok(response)),
                Err(FabricError::Refused { return_code, .. }) => Ok(Err(return_code)),
                Err(other) => Err(other.into()),
            }
        })
        .await?;
        let (return_code, payload_hex, decoded) = match answer {
            Ok(response) => {
                // The bytes as the codec writes the decoded response: the codecs
                // round-trip (golden vectors and proptests), so this is what came back.
                let mut payload = Vec::new();
                let payload_hex = response
                    .encode_payload(&mut payload)
                    .ok()
                    .map(|()| hex::encode(&payload));
                (0, payload_hex, Some(format!("{response:#?}")))
            }
            Err(code) => (code, None, None),
        };
        Ok(FmApiReply {
            switch_id: switch_id.to_owned(),
            tunnel_port,
            opcode: opcode.to_string(),
            command: name.to_owned(),
            return_code,
            payload_hex,
            decoded,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(opcode: &str, payload_hex: &str) -> FmApiCommand {
        FmApiCommand {
            opcode: opcode.to_owned(),
            payload_hex: payload_hex.to_owned(),
            tunnel_port: None,
        }
    }

    fn pointer_of(e: PathError) -> &'static str {
        match e {
            PathError::Field { pointer, .. } => pointer,
            other => panic!("not a field error: {other}"),
        }
    }

    #[test]
    fn a_port_state_query_decodes_its_port_list() {
        let (request, name) = request_of(&command("5101h", "020809")).unwrap();
        assert_eq!(name, "Get Physical Port State");
        assert_eq!(request.opcode(), Opcode::GET_PHYSICAL_PORT_STATE);
        let mut payload = Vec::new();
        request.encode_payload(&mut payload).unwrap();
        assert_eq!(payload, [2, 8, 9]);
    }

    #[test]
    fn commands_that_change_the_fabric_are_refused_on_the_opcode() {
        for opcode in [
            Opcode::PHYSICAL_PORT_CONTROL,
            Opcode::BIND_VPPB,
            Opcode::UNBIND_VPPB,
            Opcode::TUNNEL_MANAGEMENT,
            Opcode::SET_LD_ALLOCATIONS,
            Opcode::SET_QOS_CONTROL,
            Opcode::SET_QOS_ALLOCATED_BW,
            Opcode::SET_QOS_BW_LIMIT,
        ] {
            let e = request_of(&command(&opcode.to_string(), "")).unwrap_err();
            assert_eq!(pointer_of(e), "/opcode", "{opcode}");
        }
        assert_eq!(
            pointer_of(request_of(&command("4300h", "")).unwrap_err()),
            "/opcode"
        );
    }

    #[test]
    fn a_payload_that_is_not_the_command_s_layout_is_refused_on_the_payload() {
        // Get Physical Port State's count says three ports, one byte follows.
        let e = request_of(&command("5101h", "0308")).unwrap_err();
        assert_eq!(pointer_of(e), "/payload_hex");
    }
}
