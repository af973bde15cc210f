//! SMPP: bytes an SMSC sends, through the bind's codec and PDU reader.
use bytes::BytesMut;
use otpgate_smpp::codec::{Frame, FrameCodec, HEADER_OCTETS};
use otpgate_smpp::pdu::{self, Event};
use otpgate_smpp::receipt;
use tokio_util::codec::{Decoder, Encoder};

/// A stream of PDUs as the bind reads it: frames are cut until the codec waits or refuses,
/// each frame is read as the session reads it, and every reply it owes must carry the frame's
/// `sequence_number` and encode.
pub fn smpp_pdu(data: &[u8]) {
    let mut src = BytesMut::from(data);
    let mut codec = FrameCodec::default();
    loop {
        let before = src.len();
        let frame = match codec.decode(&mut src) {
            Ok(Some(frame)) => frame,
            // Waiting for more bytes, or a length that ends the connection.
            Ok(None) | Err(_) => break,
        };
        assert!(before - src.len() >= HEADER_OCTETS, "a frame must consume its header");
        let sequence_number = match &frame {
            Frame::Decoded(command) => command.sequence_number(),
            Frame::Undecodable(header) => header.sequence_number,
        };
        let inbound = pdu::read(frame);
        if let Event::Receipt { receipt, .. } = &inbound.event {
            check_receipt(receipt);
        }
        if let Some(reply) = inbound.reply {
            assert_eq!(reply.sequence_number(), sequence_number, "a reply answers its request");
            let mut out = BytesMut::new();
            FrameCodec::default()
                .encode(reply, &mut out)
                .expect("our replies encode");
        }
    }
}

/// Receipt text as an SMSC writes it in short_message / message_payload.
pub fn smpp_receipt(data: &[u8]) {
    if let Some(receipt) = receipt::from_text(data) {
        check_receipt(&receipt);
    }
    // Message ids come from the SMSC too (submit_sm_resp, receipts).
    let id = String::from_utf8_lossy(data);
    let forms = receipt::id_forms(&id);
    assert_eq!(
        forms.first(),
        Some(&receipt::canonical(&id)),
        "the canonical form comes first"
    );
}

fn check_receipt(receipt: &receipt::Receipt) {
    assert!(!receipt.message_id.is_empty(), "a receipt names its message");
    assert_eq!(receipt.outcome, receipt::outcome_of(&receipt.stat));
}
