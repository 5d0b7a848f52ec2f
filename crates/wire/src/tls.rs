//! TLS: the record layer up to the first hello of each direction, to say what was
//! negotiated (ClientHello SNI and offered versions, ServerHello version and cipher).
//! Nothing after the hellos is looked at (it is encrypted).

/// Largest handshake message buffered while waiting for the hello to complete.
const MAX_HANDSHAKE: usize = 64 * 1024;
/// Largest TLS record (2^14 plus the expansion TLS 1.2 allows).
const MAX_RECORD: usize = 16 * 1024 + 2048;

/// What a direction's first handshake message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Hello {
    Client {
        sni: Option<String>,
        /// Offered versions (supported_versions extension, else the legacy version),
        /// GREASE values left out, in the client's order.
        versions: Vec<u16>,
    },
    Server {
        version: u16,
        cipher: u16,
        /// A TLS 1.3 HelloRetryRequest (the real ServerHello follows).
        retry: bool,
    },
}

impl Hello {
    /// Info text: `TLS ClientHello SNI=pacs versions=TLS1.3,TLS1.2`,
    /// `TLS ServerHello TLS1.3 TLS_AES_256_GCM_SHA384`.
    pub fn info(&self) -> String {
        match self {
            Hello::Client { sni, versions } => {
                let versions: Vec<String> = versions.iter().map(|v| version_name(*v)).collect();
                match sni {
                    Some(s) => format!(
                        "TLS ClientHello SNI={} versions={}",
                        printable(s),
                        versions.join(",")
                    ),
                    None => format!("TLS ClientHello versions={}", versions.join(",")),
                }
            }
            Hello::Server {
                version,
                cipher,
                retry,
            } => format!(
                "TLS {} {} {}",
                if *retry {
                    "HelloRetryRequest"
                } else {
                    "ServerHello"
                },
                version_name(*version),
                cipher_name(*cipher)
            ),
        }
    }
}

fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .take(255)
        .collect()
}

/// What feeding bytes to a direction produced.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TlsOutcome {
    /// Nothing new (need more bytes, or already done).
    Nothing,
    Hello(Hello),
    /// The first handshake message is not a readable hello (or the stream stopped
    /// looking like TLS records): what is shown is only that TLS is used.
    Unreadable(String),
}

/// TLS state of one TCP direction.
#[derive(Debug, Default)]
pub(crate) struct TlsDir {
    /// Unparsed record-layer bytes (at most one record).
    rec: Vec<u8>,
    /// Handshake bytes gathered from the records so far.
    hs: Vec<u8>,
    done: bool,
    /// A HelloRetryRequest was seen: the next ServerHello is awaited (and the
    /// middlebox-compatibility ChangeCipherSpec record before it skipped).
    retried: bool,
}

impl TlsDir {
    /// Feed the next bytes of the direction; returns what they completed, in order.
    pub fn feed(&mut self, mut data: &[u8]) -> Vec<TlsOutcome> {
        let mut out = Vec::new();
        loop {
            match self.step(&mut data) {
                TlsOutcome::Nothing => return out,
                o => out.push(o),
            }
        }
    }

    /// Consume bytes from `data` until something is complete or `data` is used up.
    fn step(&mut self, data: &mut &[u8]) -> TlsOutcome {
        while !self.done && !data.is_empty() {
            // complete a record header + body in `rec`, taking only what is needed
            let need = if self.rec.len() < 5 {
                5 - self.rec.len()
            } else {
                let len = usize::from(u16::from_be_bytes([self.rec[3], self.rec[4]]));
                if len > MAX_RECORD {
                    return self.stop(format!("TLS record of {len} bytes, more than allowed"));
                }
                5 + len - self.rec.len()
            };
            let take = need.min(data.len());
            self.rec.extend_from_slice(&data[..take]);
            *data = &data[take..];
            if self.rec.len() < 5 {
                continue;
            }
            if self.rec.len() == 5 {
                if !(20..=24).contains(&self.rec[0]) || self.rec[1] != 3 {
                    return self.stop(format!(
                        "bytes {:02x?} do not start a TLS record",
                        &self.rec[..5]
                    ));
                }
                let len = usize::from(u16::from_be_bytes([self.rec[3], self.rec[4]]));
                if len > 0 {
                    continue;
                }
            }
            let len = usize::from(u16::from_be_bytes([self.rec[3], self.rec[4]]));
            if self.rec.len() < 5 + len {
                continue;
            }
            let ty = self.rec[0];
            if ty == 20 && self.retried {
                self.rec.clear();
                continue;
            }
            if ty != 22 {
                return self.stop(format!(
                    "TLS record type {ty} before any hello (no readable handshake)"
                ));
            }
            if self.hs.len() + len > MAX_HANDSHAKE {
                return self.stop("TLS handshake message too large to read".into());
            }
            self.hs.extend_from_slice(&self.rec[5..]);
            self.rec.clear();
            if self.hs.len() >= 4 {
                let mlen = (usize::from(self.hs[1]) << 16)
                    | (usize::from(self.hs[2]) << 8)
                    | usize::from(self.hs[3]);
                if mlen > MAX_HANDSHAKE {
                    return self.stop(format!("TLS handshake message of {mlen} bytes"));
                }
                if self.hs.len() >= 4 + mlen {
                    let body = &self.hs[4..4 + mlen];
                    let parsed = match self.hs[0] {
                        1 => parse_client_hello(body),
                        2 => parse_server_hello(body),
                        t => Err(format!("first TLS handshake message is of type {t}")),
                    };
                    return match parsed {
                        Ok(h @ Hello::Server { retry: true, .. }) if !self.retried => {
                            self.retried = true;
                            self.hs.drain(..4 + mlen);
                            TlsOutcome::Hello(h)
                        }
                        Ok(h) => {
                            self.finish();
                            TlsOutcome::Hello(h)
                        }
                        Err(msg) => self.stop(msg),
                    };
                }
            }
        }
        TlsOutcome::Nothing
    }

    fn finish(&mut self) {
        self.done = true;
        self.rec = Vec::new();
        self.hs = Vec::new();
    }

    fn stop(&mut self, msg: String) -> TlsOutcome {
        self.finish();
        TlsOutcome::Unreadable(msg)
    }
}

/// A bounds-checked reader over a handshake message.
struct Rd<'a>(&'a [u8]);

impl<'a> Rd<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err(format!(
                "truncated hello ({n} bytes wanted, {} left)",
                self.0.len()
            ));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, String> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn vec8(&mut self) -> Result<&'a [u8], String> {
        let n = usize::from(self.u8()?);
        self.take(n)
    }
    fn vec16(&mut self) -> Result<&'a [u8], String> {
        let n = usize::from(self.u16()?);
        self.take(n)
    }
}

fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// Extensions as (type, data); a missing extensions block is an empty list.
fn extensions<'a>(r: &mut Rd<'a>) -> Result<Vec<(u16, &'a [u8])>, String> {
    if r.0.is_empty() {
        return Ok(Vec::new());
    }
    let mut ext = Rd(r.vec16()?);
    let mut out = Vec::new();
    while !ext.0.is_empty() {
        let ty = ext.u16()?;
        let data = ext.vec16()?;
        out.push((ty, data));
    }
    Ok(out)
}

const EXT_SNI: u16 = 0;
const EXT_SUPPORTED_VERSIONS: u16 = 43;

pub(crate) fn parse_client_hello(body: &[u8]) -> Result<Hello, String> {
    let mut r = Rd(body);
    let legacy = r.u16()?;
    r.take(32)?; // random
    r.vec8()?; // session id
    r.vec16()?; // cipher suites
    r.vec8()?; // compression methods
    let mut sni = None;
    let mut versions = None;
    for (ty, data) in extensions(&mut r)? {
        match ty {
            EXT_SNI => {
                let mut list = Rd(Rd(data).vec16()?);
                while !list.0.is_empty() {
                    let name_type = list.u8()?;
                    let name = list.vec16()?;
                    if name_type == 0 && sni.is_none() {
                        sni = Some(String::from_utf8_lossy(name).into_owned());
                    }
                }
            }
            EXT_SUPPORTED_VERSIONS => {
                let mut list = Rd(Rd(data).vec8()?);
                let mut v = Vec::new();
                while !list.0.is_empty() {
                    let ver = list.u16()?;
                    if !is_grease(ver) {
                        v.push(ver);
                    }
                }
                versions = Some(v);
            }
            _ => {}
        }
    }
    Ok(Hello::Client {
        sni,
        versions: versions.unwrap_or_else(|| vec![legacy]),
    })
}

/// The `random` of a HelloRetryRequest (RFC 8446 4.1.3): SHA-256 of the string.
const HRR_RANDOM: [u8; 32] = [
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
    0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
];

pub(crate) fn parse_server_hello(body: &[u8]) -> Result<Hello, String> {
    let mut r = Rd(body);
    let legacy = r.u16()?;
    let retry = r.take(32)? == HRR_RANDOM;
    r.vec8()?; // session id
    let cipher = r.u16()?;
    r.u8()?; // compression method
    let mut version = legacy;
    for (ty, data) in extensions(&mut r)? {
        if ty == EXT_SUPPORTED_VERSIONS {
            version = Rd(data).u16()?;
        }
    }
    Ok(Hello::Server {
        version,
        cipher,
        retry,
    })
}

pub(crate) fn version_name(v: u16) -> String {
    match v {
        0x0300 => "SSL3.0".into(),
        0x0301 => "TLS1.0".into(),
        0x0302 => "TLS1.1".into(),
        0x0303 => "TLS1.2".into(),
        0x0304 => "TLS1.3".into(),
        _ => format!("0x{v:04x}"),
    }
}

pub(crate) fn cipher_name(c: u16) -> String {
    let name = match c {
        0x1301 => "TLS_AES_128_GCM_SHA256",
        0x1302 => "TLS_AES_256_GCM_SHA384",
        0x1303 => "TLS_CHACHA20_POLY1305_SHA256",
        0x1304 => "TLS_AES_128_CCM_SHA256",
        0x1305 => "TLS_AES_128_CCM_8_SHA256",
        0xc02b => "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        0xc02c => "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        0xc02f => "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        0xc030 => "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        0xcca8 => "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        0xcca9 => "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        0xc009 => "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
        0xc00a => "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
        0xc013 => "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
        0xc014 => "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
        0xc027 => "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
        0xc028 => "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
        0x009e => "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
        0x009f => "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
        0x009c => "TLS_RSA_WITH_AES_128_GCM_SHA256",
        0x009d => "TLS_RSA_WITH_AES_256_GCM_SHA384",
        0x003c => "TLS_RSA_WITH_AES_128_CBC_SHA256",
        0x003d => "TLS_RSA_WITH_AES_256_CBC_SHA256",
        0x002f => "TLS_RSA_WITH_AES_128_CBC_SHA",
        0x0035 => "TLS_RSA_WITH_AES_256_CBC_SHA",
        0x000a => "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
        0x0005 => "TLS_RSA_WITH_RC4_128_SHA",
        0x0004 => "TLS_RSA_WITH_RC4_128_MD5",
        0x0000 => "TLS_NULL_WITH_NULL_NULL",
        _ => return format!("cipher 0x{c:04X}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vec16(data: &[u8]) -> Vec<u8> {
        let mut v = (data.len() as u16).to_be_bytes().to_vec();
        v.extend_from_slice(data);
        v
    }

    fn ext(ty: u16, data: &[u8]) -> Vec<u8> {
        let mut v = ty.to_be_bytes().to_vec();
        v.extend(vec16(data));
        v
    }

    fn handshake(ty: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![ty];
        v.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        v.extend_from_slice(body);
        v
    }

    fn record(ty: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![ty, 3, 1];
        v.extend(vec16(payload));
        v
    }

    /// A ClientHello as a TLS 1.3 client writes it: legacy version TLS1.2, a GREASE
    /// version first, SNI `pacs`.
    pub(crate) fn client_hello(sni: Option<&str>, versions: &[u16]) -> Vec<u8> {
        let mut b = vec![3, 3];
        b.extend([7u8; 32]);
        b.push(32);
        b.extend([9u8; 32]);
        b.extend(vec16(&[0x13, 0x02, 0x13, 0x01, 0xc0, 0x2f]));
        b.extend([1, 0]);
        let mut exts = Vec::new();
        if let Some(name) = sni {
            let mut entry = vec![0u8];
            entry.extend(vec16(name.as_bytes()));
            exts.extend(ext(EXT_SNI, &vec16(&entry)));
        }
        exts.extend(ext(10, &[0, 2, 0, 0x1d])); // supported_groups
        if !versions.is_empty() {
            let mut list = vec![(versions.len() * 2 + 2) as u8, 0x3a, 0x3a];
            for v in versions {
                list.extend(v.to_be_bytes());
            }
            exts.extend(ext(EXT_SUPPORTED_VERSIONS, &list));
        }
        b.extend(vec16(&exts));
        handshake(1, &b)
    }

    pub(crate) fn server_hello(version: Option<u16>, cipher: u16) -> Vec<u8> {
        let mut b = vec![3, 3];
        b.extend([5u8; 32]);
        b.push(0);
        b.extend(cipher.to_be_bytes());
        b.push(0);
        if let Some(v) = version {
            b.extend(vec16(&ext(EXT_SUPPORTED_VERSIONS, &v.to_be_bytes())));
        }
        handshake(2, &b)
    }

    #[test]
    fn client_hello_sni_and_versions() {
        let mut t = TlsDir::default();
        let mut out = t.feed(&record(22, &client_hello(Some("pacs"), &[0x0304, 0x0303])));
        let Some(TlsOutcome::Hello(h)) = out.pop() else {
            panic!("{out:?}")
        };
        assert_eq!(h.info(), "TLS ClientHello SNI=pacs versions=TLS1.3,TLS1.2");
        // nothing more is reported for that direction
        assert_eq!(t.feed(&record(23, &[1, 2, 3])), []);
    }

    #[test]
    fn client_hello_without_extensions_offers_its_legacy_version() {
        let mut hello = client_hello(None, &[]);
        hello[4..6].copy_from_slice(&[3, 1]);
        let h = match TlsDir::default().feed(&record(22, &hello)).pop() {
            Some(TlsOutcome::Hello(h)) => h,
            o => panic!("{o:?}"),
        };
        assert_eq!(h.info(), "TLS ClientHello versions=TLS1.0");
    }

    #[test]
    fn server_hello_tls13_and_tls12() {
        let h = parse_server_hello(&server_hello(Some(0x0304), 0x1302)[4..]).unwrap();
        assert_eq!(h.info(), "TLS ServerHello TLS1.3 TLS_AES_256_GCM_SHA384");
        let h = parse_server_hello(&server_hello(None, 0xc030)[4..]).unwrap();
        assert_eq!(
            h.info(),
            "TLS ServerHello TLS1.2 TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
        );
    }

    #[test]
    fn hello_split_across_records_and_byte_by_byte() {
        let hello = client_hello(Some("orthanc.lab"), &[0x0304]);
        let (a, b) = hello.split_at(20);
        let mut stream = record(22, a);
        stream.extend(record(22, b));
        let mut t = TlsDir::default();
        let mut got = None;
        for byte in &stream {
            for o in t.feed(std::slice::from_ref(byte)) {
                match o {
                    TlsOutcome::Hello(h) => got = Some(h),
                    o => panic!("{o:?}"),
                }
            }
        }
        assert_eq!(
            got.unwrap().info(),
            "TLS ClientHello SNI=orthanc.lab versions=TLS1.3"
        );
    }

    #[test]
    fn truncated_and_garbage_hellos_are_unreadable_not_panics() {
        let hello = client_hello(Some("pacs"), &[0x0304]);
        for cut in 4..hello.len() {
            let mut h = hello[..cut].to_vec();
            // fix the handshake length so the message looks complete but is truncated
            let l = (cut - 4) as u32;
            h[1..4].copy_from_slice(&l.to_be_bytes()[1..]);
            let out = TlsDir::default().feed(&record(22, &h)).remove(0);
            // only a cut right before the extensions block still reads (as a hello
            // without extensions); every other cut is unreadable
            match &out {
                TlsOutcome::Unreadable(_) => {}
                TlsOutcome::Hello(Hello::Client {
                    sni: None,
                    versions,
                }) => {
                    assert_eq!(versions, &[0x0303], "{cut}")
                }
                other => panic!("{cut}: {other:?}"),
            }
        }
        let out = TlsDir::default().feed(&[0x16, 0x03, 0x01, 0xff, 0xff, 1]);
        assert!(matches!(out[..], [TlsOutcome::Unreadable(_)]), "{out:?}");
        let out = TlsDir::default().feed(&record(23, &[0; 10]));
        assert!(matches!(out[..], [TlsOutcome::Unreadable(_)]), "{out:?}");
    }

    #[test]
    fn hello_retry_request_then_server_hello_in_one_chunk() {
        let mut hrr = server_hello(Some(0x0304), 0x1302);
        hrr[6..38].copy_from_slice(&HRR_RANDOM);
        let mut stream = record(22, &hrr);
        stream.extend([20, 3, 3, 0, 1, 1]); // middlebox-compatibility ChangeCipherSpec
        stream.extend(record(22, &server_hello(Some(0x0304), 0x1302)));
        let infos: Vec<String> = TlsDir::default()
            .feed(&stream)
            .into_iter()
            .map(|o| match o {
                TlsOutcome::Hello(h) => h.info(),
                o => panic!("{o:?}"),
            })
            .collect();
        assert_eq!(
            infos,
            [
                "TLS HelloRetryRequest TLS1.3 TLS_AES_256_GCM_SHA384",
                "TLS ServerHello TLS1.3 TLS_AES_256_GCM_SHA384"
            ]
        );
    }
}
