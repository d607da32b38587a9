-- SPDX-License-Identifier: GPL-2.0
-- Wireshark/tshark dissector (Lua 5.2: bit32, as Wireshark 4.0 embeds) for AF_CUSTOM frames (EtherType 0x88B5),
-- every header field and flag of docs/PROTOCOL.md section 1.1.
--
--   tshark -X lua_script:af_custom.lua -r capture.pcap
--   tshark -X lua_script:af_custom.lua -o afc.check_checksum:TRUE ...
--   (Wireshark: copy it into ~/.local/lib/wireshark/plugins/)
--
-- The Info column reads like TCP's: "sport → dport [SYN, ACK] Seq=...
-- Ack=... Win=... Len=..." (absolute sequence numbers; the window as
-- carried, unscaled).  Checksum validation is an option (off by default,
-- as Wireshark's TCP): 0 in the field means "not computed", which is
-- legal on loopback; a GSO frame captured before it was cut carries a
-- checksum still pending (the capture shows what the kernel had).

local afc = Proto("afc", "AF_CUSTOM")

local HEADER_LEN = 32

local f = afc.fields
f.version  = ProtoField.uint8("afc.version", "Version", base.DEC)
f.flags    = ProtoField.uint8("afc.flags", "Flags", base.HEX)
f.syn      = ProtoField.bool("afc.flags.syn", "SYN", 8, nil, 0x01)
f.ack_flag = ProtoField.bool("afc.flags.ack", "ACK", 8, nil, 0x02)
f.fin      = ProtoField.bool("afc.flags.fin", "FIN", 8, nil, 0x04)
f.rst      = ProtoField.bool("afc.flags.rst", "RST", 8, nil, 0x08)
f.reserved_flags = ProtoField.uint8("afc.flags.reserved", "Reserved", base.HEX, nil, 0xF0)
f.window   = ProtoField.uint16("afc.window", "Window", base.DEC)
f.srcport  = ProtoField.uint16("afc.srcport", "Source Port", base.DEC)
f.dstport  = ProtoField.uint16("afc.dstport", "Destination Port", base.DEC)
f.len      = ProtoField.uint16("afc.len", "Payload Length", base.DEC)
f.checksum = ProtoField.uint16("afc.checksum", "Checksum", base.HEX)
f.checksum_status = ProtoField.string("afc.checksum.status", "Checksum Status")
f.src      = ProtoField.ipv4("afc.src", "Source Address")
f.dst      = ProtoField.ipv4("afc.dst", "Destination Address")
f.seq      = ProtoField.uint32("afc.seq", "Sequence Number", base.DEC)
f.ack      = ProtoField.uint32("afc.ack", "Acknowledgment Number", base.DEC)
f.wscale   = ProtoField.uint8("afc.wscale", "Window Scale", base.DEC)
f.reserved = ProtoField.uint8("afc.reserved", "Reserved", base.HEX)
f.mss      = ProtoField.uint16("afc.mss", "MSS", base.DEC)
f.payload  = ProtoField.bytes("afc.payload", "Payload")

afc.prefs.check_checksum = Pref.bool("Validate the checksum", false,
    "Verify the header checksum (RFC 1071 sum over header and payload, field as zero)")

-- RFC 1071 ones' complement sum of the frame with the checksum field
-- (offset 10) taken as zero; the computed value as the sender sends it
-- (0x0000 goes out as 0xFFFF).
local function checksum(tvb, total)
    local sum = 0
    local i = 0
    while i + 1 < total do
        if i ~= 10 then
            sum = sum + tvb(i, 2):uint()
        end
        i = i + 2
    end
    if i < total then
        sum = sum + tvb(i, 1):uint() * 256
    end
    while sum > 0xFFFF do
        sum = bit32.band(sum, 0xFFFF) + bit32.rshift(sum, 16)
    end
    local c = bit32.band(bit32.bnot(sum), 0xFFFF)
    if c == 0 then
        c = 0xFFFF
    end
    return c
end

local function flag_names(flags)
    local names = {}
    if bit32.band(flags, 0x04) ~= 0 then names[#names + 1] = "FIN" end
    if bit32.band(flags, 0x01) ~= 0 then names[#names + 1] = "SYN" end
    if bit32.band(flags, 0x08) ~= 0 then names[#names + 1] = "RST" end
    if bit32.band(flags, 0x02) ~= 0 then names[#names + 1] = "ACK" end
    return table.concat(names, ", ")
end

function afc.dissector(tvb, pinfo, tree)
    if tvb:len() < HEADER_LEN then
        return 0
    end
    pinfo.cols.protocol = "AF_CUSTOM"
    local flags = tvb(1, 1):uint()
    local window = tvb(2, 2):uint()
    local sport, dport = tvb(4, 2):uint(), tvb(6, 2):uint()
    local plen = tvb(8, 2):uint()
    local seq, ack = tvb(20, 4):uint(), tvb(24, 4):uint()
    local total = math.min(HEADER_LEN + plen, tvb:len())

    local t = tree:add(afc, tvb(0, total), string.format(
        "AF_CUSTOM, Src Port: %d, Dst Port: %d, Seq: %d, Len: %d", sport, dport, seq, plen))
    t:add(f.version, tvb(0, 1))
    local ft = t:add(f.flags, tvb(1, 1)):append_text(" (" .. flag_names(flags) .. ")")
    ft:add(f.syn, tvb(1, 1))
    ft:add(f.ack_flag, tvb(1, 1))
    ft:add(f.fin, tvb(1, 1))
    ft:add(f.rst, tvb(1, 1))
    ft:add(f.reserved_flags, tvb(1, 1))
    t:add(f.window, tvb(2, 2))
    t:add(f.srcport, tvb(4, 2))
    t:add(f.dstport, tvb(6, 2))
    t:add(f.len, tvb(8, 2))
    local ct = t:add(f.checksum, tvb(10, 2))
    local field = tvb(10, 2):uint()
    local status
    if field == 0 then
        status = "Not computed (legal on loopback)"
    elseif not afc.prefs.check_checksum then
        status = "Unverified"
    elseif total < HEADER_LEN + plen then
        status = "Unverified (frame truncated)"
    else
        local want = checksum(tvb, total)
        if want == field then
            status = "Good"
        else
            status = string.format("Bad (should be 0x%04x)", want)
            ct:add_expert_info(PI_CHECKSUM, PI_ERROR, "Bad checksum")
        end
    end
    ct:add(f.checksum_status, status)
    t:add(f.src, tvb(12, 4))
    t:add(f.dst, tvb(16, 4))
    t:add(f.seq, tvb(20, 4))
    t:add(f.ack, tvb(24, 4))
    t:add(f.wscale, tvb(28, 1))
    t:add(f.reserved, tvb(29, 1))
    t:add(f.mss, tvb(30, 2))
    if plen > 0 and tvb:len() > HEADER_LEN then
        t:add(f.payload, tvb(HEADER_LEN, total - HEADER_LEN))
    end

    local info = string.format("%d → %d [%s] Seq=%d", sport, dport, flag_names(flags), seq)
    if bit32.band(flags, 0x02) ~= 0 then
        info = info .. string.format(" Ack=%d", ack)
    end
    info = info .. string.format(" Win=%d Len=%d", window, plen)
    if bit32.band(flags, 0x01) ~= 0 then
        info = info .. string.format(" MSS=%d WS=%d", tvb(30, 2):uint(), bit32.lshift(1, tvb(28, 1):uint()))
    end
    pinfo.cols.info = info
    pinfo.src = tvb(12, 4):ipv4()
    pinfo.dst = tvb(16, 4):ipv4()
    pinfo.src_port = sport
    pinfo.dst_port = dport
    return total
end

DissectorTable.get("ethertype"):add(0x88B5, afc)
