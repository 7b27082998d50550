//! `ikegw decode`: print IKEv2 messages found in a capture or a hex dump.
//!
//! Input is a pcap/pcapng file (IKE found on UDP 500 and 4500, the non-ESP
//! marker stripped, ESP and keepalives skipped; see `ike::capture`) or a
//! text hex dump: whitespace and colons are ignored, `#` starts a comment,
//! and messages are separated by blank lines, or one per line when each
//! line holds a whole message. A message that does not parse is reported
//! with its error and offset, and decoding goes on with the next one.
//!
//! Text output: a header line per message, then one line per payload with
//! its key fields (proposals in strongSwan notation). `--json`: one object
//! per line with the stable fields `packet`, `src`, `dst`, `exchange`,
//! `flags`, `message_id`, `spi_i`, `spi_r`, `payloads` (or `error`).

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;

use ike::capture::{is_capture, udp_datagrams};
use ike::wire::{
    CpAttribute, HashAlgorithm, KeMethod, Message, NotifyType, Payload, Proposal, TrafficSelector,
    WireError,
};
use serde_json::{json, Value};

/// Arguments of `ikegw decode`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A pcap or pcapng file, or a text file holding a hex dump.
    file: std::path::PathBuf,
    /// Print one JSON object per message instead of text.
    #[arg(long)]
    json: bool,
}

/// One candidate IKE message and where it came from.
struct Input {
    /// Packet number in the capture, or message number in a hex dump.
    packet: usize,
    /// Source and destination, when known.
    addrs: Option<(SocketAddr, SocketAddr)>,
    /// The bytes, or why they could not be read (bad hex).
    bytes: Result<Vec<u8>, String>,
}

pub(crate) fn run(args: &Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let data = std::fs::read(&args.file).map_err(|e| format!("{}: {e}", args.file.display()))?;
    let inputs = read_inputs(&data)?;
    let mut out = std::io::stdout().lock();
    let mut failures = 0usize;
    for input in &inputs {
        let (line, ok) = if args.json {
            render_json(input)
        } else {
            render_text(input)
        };
        if !ok {
            failures = failures.saturating_add(1);
        }
        out.write_all(line.as_bytes())?;
    }
    out.flush()?;
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Find the candidate messages in a capture or hex dump.
fn read_inputs(data: &[u8]) -> Result<Vec<Input>, Box<dyn std::error::Error>> {
    if is_capture(data) {
        let datagrams = udp_datagrams(data)?;
        Ok(datagrams
            .iter()
            .filter_map(|d| {
                d.ike_message().map(|m| Input {
                    packet: d.packet,
                    addrs: Some((d.src, d.dst)),
                    bytes: Ok(m.to_vec()),
                })
            })
            .collect())
    } else {
        let text = std::str::from_utf8(data)
            .map_err(|_| "input is neither a capture nor a text hex dump")?;
        Ok(hex_messages(text)
            .into_iter()
            .enumerate()
            .map(|(n, bytes)| Input {
                packet: n.saturating_add(1),
                addrs: None,
                bytes,
            })
            .collect())
    }
}

/// Split a hex dump into messages (see the module doc).
pub(crate) fn hex_messages(text: &str) -> Vec<Result<Vec<u8>, String>> {
    let mut paragraphs: Vec<Vec<(usize, String)>> = vec![Vec::new()];
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("");
        let is_comment = raw.trim_start().starts_with('#');
        let cleaned: String = line
            .chars()
            .filter(|c| !c.is_whitespace() && *c != ':')
            .collect();
        if cleaned.is_empty() {
            if !is_comment && paragraphs.last().is_some_and(|p| !p.is_empty()) {
                paragraphs.push(Vec::new());
            }
            continue;
        }
        if let Some(p) = paragraphs.last_mut() {
            p.push((n.saturating_add(1), cleaned));
        }
    }
    let mut out = Vec::new();
    for p in paragraphs.into_iter().filter(|p| !p.is_empty()) {
        let first_is_whole = p
            .first()
            .is_some_and(|(_, l)| hex::decode(l).is_ok_and(|b| is_whole_message(&b)));
        if p.len() > 1 && first_is_whole {
            for (n, l) in p {
                out.push(decode_hex(n, &l));
            }
        } else {
            let first_line = p.first().map_or(0, |(n, _)| *n);
            let joined: String = p.into_iter().map(|(_, l)| l).collect();
            out.push(decode_hex(first_line, &joined));
        }
    }
    out
}

fn decode_hex(line: usize, s: &str) -> Result<Vec<u8>, String> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    let bytes = hex::decode(s).map_err(|e| format!("line {line}: bad hex: {e}"))?;
    // A dump taken on port 4500 may still carry the non-ESP marker.
    Ok(match ike::wire::strip_non_esp_marker(&bytes) {
        Some(rest) if bytes.len() > 4 => rest.to_vec(),
        _ => bytes,
    })
}

/// True if `b` is exactly one IKE message by its header length.
fn is_whole_message(b: &[u8]) -> bool {
    let b = ike::wire::strip_non_esp_marker(b).unwrap_or(b);
    ike::wire::HeaderPacket::new_checked(b)
        .is_ok_and(|h| usize::try_from(h.length()).ok() == Some(b.len()))
}

fn flags_text(m: &Message) -> String {
    let mut f = String::new();
    if m.header.initiator {
        f.push('I');
    }
    if m.header.response {
        f.push('R');
    }
    if m.header.version_flag {
        f.push('V');
    }
    f
}

fn hex_short(data: &[u8]) -> String {
    const MAX: usize = 32;
    match data.get(..MAX) {
        Some(head) if data.len() > MAX => format!("{}… ({} bytes)", hex::encode(head), data.len()),
        _ => hex::encode(data),
    }
}

/// Notification data, decoded for the types where that helps.
fn notify_summary(t: NotifyType, data: &[u8]) -> String {
    let u16s = || {
        data.chunks(2).map(|c| {
            u16::from_be_bytes([
                c.first().copied().unwrap_or(0),
                c.get(1).copied().unwrap_or(0),
            ])
        })
    };
    match t {
        NotifyType::SIGNATURE_HASH_ALGORITHMS if data.len() % 2 == 0 => u16s()
            .map(|v| HashAlgorithm(v).to_string())
            .collect::<Vec<_>>()
            .join(" "),
        NotifyType::INVALID_KE_PAYLOAD if data.len() == 2 => {
            u16s().map(|v| KeMethod(v).to_string()).collect()
        }
        NotifyType::SUPPORTED_AUTH_METHODS | NotifyType::REDIRECT => hex_short(data),
        _ if data.is_empty() => String::new(),
        _ => hex_short(data),
    }
}

fn proposal_text(p: &Proposal) -> String {
    let mut s = format!("#{} {p}", p.number);
    if !p.spi.is_empty() {
        let _ = write!(s, " spi={}", hex::encode(&p.spi));
    }
    s
}

fn selectors_text(ts: &[TrafficSelector]) -> String {
    ts.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

fn cp_text(attrs: &[CpAttribute]) -> String {
    attrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// One line (without indentation) describing a payload.
fn payload_text(p: &Payload) -> String {
    match p {
        Payload::Sa(sa) => {
            format!(
                "SA {}",
                sa.proposals
                    .iter()
                    .map(proposal_text)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        Payload::Ke(ke) => format!("KE {} ({} bytes)", ke.method, ke.data.len()),
        Payload::Idi(id) => format!("IDi {} {id}", id.id_type),
        Payload::Idr(id) => format!("IDr {} {id}", id.id_type),
        Payload::Cert(c) => format!("CERT {} ({} bytes)", c.encoding, c.data.len()),
        Payload::CertReq(c) => format!(
            "CERTREQ {} ({} CA hashes, {} bytes)",
            c.encoding,
            c.data.len() / 20,
            c.data.len()
        ),
        Payload::Auth(a) => format!("AUTH {} ({} bytes)", a.method, a.data.len()),
        Payload::Nonce(n) => format!("No ({} bytes)", n.data.len()),
        Payload::Notify(n) => {
            let mut s = format!("N({})", n.notify_type);
            if n.protocol.0 != 0 || !n.spi.is_empty() {
                let _ = write!(s, " {} spi={}", n.protocol, hex::encode(&n.spi));
            }
            let d = notify_summary(n.notify_type, &n.data);
            if !d.is_empty() {
                let _ = write!(s, " {d}");
            }
            s
        }
        Payload::Delete(d) => {
            let spis: Vec<String> = d.spis.iter().map(hex::encode).collect();
            if spis.is_empty() {
                format!("D {}", d.protocol)
            } else {
                format!("D {} {}", d.protocol, spis.join(" "))
            }
        }
        Payload::VendorId(v) => format!("V {}", hex_short(&v.data)),
        Payload::Tsi(ts) => format!("TSi {}", selectors_text(&ts.selectors)),
        Payload::Tsr(ts) => format!("TSr {}", selectors_text(&ts.selectors)),
        Payload::Sk(sk) => format!(
            "SK inner={} ({} bytes encrypted)",
            sk.next_inner,
            sk.body.len()
        ),
        Payload::Skf(f) => format!(
            "SKF fragment {}/{} inner={} ({} bytes encrypted)",
            f.fragment_number,
            f.total_fragments,
            f.next_inner,
            f.body.len()
        ),
        Payload::Cp(cp) => format!("CP {} {}", cp.cfg_type, cp_text(&cp.attributes)),
        Payload::Eap(e) => format!("EAP ({} bytes) {}", e.data.len(), hex_short(&e.data)),
        Payload::Unknown(u) => format!(
            "UNKNOWN({}){} ({} bytes)",
            u.payload_type.0,
            if u.critical { " critical" } else { "" },
            u.data.len()
        ),
    }
}

fn where_text(input: &Input) -> String {
    match input.addrs {
        Some((s, d)) => format!("#{} {s} -> {d}", input.packet),
        None => format!("#{}", input.packet),
    }
}

fn error_text(e: &WireError) -> String {
    match e.notify() {
        Some(n) => format!("{e} (answer: {n})"),
        None => e.to_string(),
    }
}

/// Text rendering; returns the lines and whether the message decoded.
fn render_text(input: &Input) -> (String, bool) {
    let mut s = where_text(input);
    let bytes = match &input.bytes {
        Ok(b) => b,
        Err(e) => {
            let _ = writeln!(s, " error: {e}");
            return (s, false);
        }
    };
    match Message::parse(bytes) {
        Ok(m) => {
            let h = &m.header;
            let _ = writeln!(
                s,
                " {} {} [{}] mid={} spi_i={:016x} spi_r={:016x} ({} bytes)",
                h.exchange,
                if h.response { "response" } else { "request" },
                flags_text(&m),
                h.message_id,
                h.spi_i,
                h.spi_r,
                bytes.len()
            );
            for p in &m.payloads {
                let _ = writeln!(s, "  {}", payload_text(p));
            }
            (s, true)
        }
        Err(e) => {
            // Still show whatever the header says: it routes the message.
            if let Ok(h) = ike::wire::HeaderPacket::new_checked(bytes.as_slice()) {
                let _ = writeln!(
                    s,
                    " {} {} mid={} spi_i={:016x} spi_r={:016x} ({} bytes)",
                    h.exchange_type(),
                    if h.is_response() {
                        "response"
                    } else {
                        "request"
                    },
                    h.message_id(),
                    h.spi_i(),
                    h.spi_r(),
                    bytes.len()
                );
                let _ = writeln!(s, "  error: {}", error_text(&e));
            } else {
                let _ = writeln!(s, " error: {}", error_text(&e));
            }
            (s, false)
        }
    }
}

fn ts_json(t: &TrafficSelector) -> Value {
    match t {
        TrafficSelector::Ipv4 {
            ip_protocol,
            start_port,
            end_port,
            start,
            end,
        } => json!({
            "ts_type": "TS_IPV4_ADDR_RANGE", "ip_protocol": ip_protocol, "start_port": start_port,
            "end_port": end_port, "start": start.to_string(), "end": end.to_string(), "text": t.to_string()
        }),
        TrafficSelector::Ipv6 {
            ip_protocol,
            start_port,
            end_port,
            start,
            end,
        } => json!({
            "ts_type": "TS_IPV6_ADDR_RANGE", "ip_protocol": ip_protocol, "start_port": start_port,
            "end_port": end_port, "start": start.to_string(), "end": end.to_string(), "text": t.to_string()
        }),
        TrafficSelector::Other {
            ts_type,
            byte1,
            data,
        } => json!({
            "ts_type": ts_type.to_string(), "byte1": byte1, "data": hex::encode(data)
        }),
    }
}

fn payload_json(p: &Payload) -> Value {
    let mut v = match p {
        Payload::Sa(sa) => json!({ "proposals": sa.proposals.iter().map(|p| json!({
            "number": p.number,
            "protocol": p.protocol.to_string(),
            "spi": hex::encode(&p.spi),
            "text": p.to_string(),
            "transforms": p.transforms.iter().map(|t| json!({
                "type": t.transform_type.to_string(),
                "id": t.id,
                "name": t.to_string(),
                "key_length": t.key_length(),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>() }),
        Payload::Ke(ke) => json!({ "method": ke.method.to_string(), "data_len": ke.data.len() }),
        Payload::Idi(id) | Payload::Idr(id) => {
            json!({ "id_type": id.id_type.to_string(), "id": id.to_string() })
        }
        Payload::Cert(c) => json!({ "encoding": c.encoding.to_string(), "data_len": c.data.len() }),
        Payload::CertReq(c) => {
            json!({ "encoding": c.encoding.to_string(), "data": hex::encode(&c.data) })
        }
        Payload::Auth(a) => json!({ "method": a.method.to_string(), "data_len": a.data.len() }),
        Payload::Nonce(n) => json!({ "data_len": n.data.len() }),
        Payload::Notify(n) => json!({
            "notify_type": n.notify_type.to_string(),
            "notify_number": n.notify_type.0,
            "protocol": n.protocol.to_string(),
            "spi": hex::encode(&n.spi),
            "data": hex::encode(&n.data),
            "summary": notify_summary(n.notify_type, &n.data),
        }),
        Payload::Delete(d) => json!({
            "protocol": d.protocol.to_string(),
            "spis": d.spis.iter().map(hex::encode).collect::<Vec<_>>(),
        }),
        Payload::VendorId(vid) => json!({ "data": hex::encode(&vid.data) }),
        Payload::Tsi(ts) | Payload::Tsr(ts) => {
            json!({ "selectors": ts.selectors.iter().map(ts_json).collect::<Vec<_>>() })
        }
        Payload::Sk(sk) => {
            json!({ "next_inner": sk.next_inner.to_string(), "body_len": sk.body.len() })
        }
        Payload::Skf(f) => json!({
            "next_inner": f.next_inner.to_string(), "fragment_number": f.fragment_number,
            "total_fragments": f.total_fragments, "body_len": f.body.len(),
        }),
        Payload::Cp(cp) => json!({
            "cfg_type": cp.cfg_type.to_string(),
            "attributes": cp.attributes.iter().map(|a| json!({
                "type": a.attr_type.to_string(), "value": hex::encode(&a.value), "text": a.to_string(),
            })).collect::<Vec<_>>(),
        }),
        Payload::Eap(e) => json!({ "data": hex::encode(&e.data) }),
        Payload::Unknown(u) => json!({
            "payload_number": u.payload_type.0, "critical": u.critical, "data": hex::encode(&u.data),
        }),
    };
    if let Value::Object(m) = &mut v {
        m.insert("type".into(), Value::String(p.payload_type().to_string()));
    }
    v
}

/// JSON rendering: one line; returns whether the message decoded.
fn render_json(input: &Input) -> (String, bool) {
    let mut obj = json!({ "packet": input.packet });
    if let (Value::Object(m), Some((s, d))) = (&mut obj, input.addrs) {
        m.insert("src".into(), Value::String(s.to_string()));
        m.insert("dst".into(), Value::String(d.to_string()));
    }
    let ok = match &input.bytes {
        Err(e) => {
            if let Value::Object(m) = &mut obj {
                m.insert("error".into(), Value::String(e.clone()));
            }
            false
        }
        Ok(bytes) => match Message::parse(bytes) {
            Ok(msg) => {
                let h = &msg.header;
                let extra = json!({
                    "exchange": h.exchange.to_string(),
                    "flags": flags_text(&msg),
                    "message_id": h.message_id,
                    "spi_i": format!("{:016x}", h.spi_i),
                    "spi_r": format!("{:016x}", h.spi_r),
                    "length": bytes.len(),
                    "payloads": msg.payloads.iter().map(payload_json).collect::<Vec<_>>(),
                });
                if let (Value::Object(m), Value::Object(e)) = (&mut obj, extra) {
                    m.extend(e);
                }
                true
            }
            Err(e) => {
                let extra = json!({
                    "error": e.to_string(),
                    "offset": e.offset,
                    "payload": e.payload.map(|p| p.to_string()),
                    "field": e.field,
                    "reason": e.reason.as_str(),
                    "notify": e.notify().map(|n| n.to_string()),
                });
                if let (Value::Object(m), Value::Object(e)) = (&mut obj, extra) {
                    m.extend(e);
                }
                false
            }
        },
    };
    (format!("{obj}\n"), ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_dump_splits_by_paragraph_and_by_line() {
        let text = "# comment\naa bb\ncc:dd\n\n  ee ff # trailing\n";
        let m = hex_messages(text);
        assert_eq!(
            m,
            vec![Ok(vec![0xaa, 0xbb, 0xcc, 0xdd]), Ok(vec![0xee, 0xff])]
        );
        let bad = hex_messages("zz\n");
        assert!(bad[0].as_ref().unwrap_err().contains("line 1"));
    }
}
