/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Builds AF_CUSTOM frames by hand, from docs/PROTOCOL.md alone, and sends
 * them raw through AF_PACKET: how the tests inject frames the module must
 * judge (valid, runt, bad version, bad checksum).
 */
#ifndef AFC_FRAME_H
#define AFC_FRAME_H

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define AFC_HDR_LEN	32
#define AFC_F_SYN	0x01
#define AFC_F_ACK	0x02
#define AFC_F_FIN	0x04
#define AFC_F_RST	0x08
#define AFC_F_URG	0x10

struct afc_hdr_fields {
	uint8_t version, flags;
	uint16_t window, sport, dport, payload_len;
	uint32_t saddr, daddr, seq, ack;	/* host order */
	uint8_t wscale;
	uint16_t mss;
	uint32_t urg;	/* with URG on a non-SYN: the urgent pointer (bytes 28-31) */
};

static inline void afc_put16(uint8_t *b, uint16_t v) { b[0] = v >> 8; b[1] = v; }
static inline void afc_put32(uint8_t *b, uint32_t v) { afc_put16(b, v >> 16); afc_put16(b + 2, v); }

/* The ones' complement sum of len bytes (not complemented, folded). */
static inline uint16_t afc_sum16(const uint8_t *p, size_t len)
{
	uint64_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (p[i] << 8) | p[i + 1];
	if (len & 1)
		sum += p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

/* RFC 1071 checksum over header and payload; stored never as zero. */
static inline uint16_t afc_csum(const uint8_t *p, size_t len)
{
	uint16_t sum = ~afc_sum16(p, len);

	return sum ? sum : 0xffff;
}

/* Writes header + payload into buf; returns the frame length. */
static inline size_t afc_build(uint8_t *buf, const struct afc_hdr_fields *h,
			       const void *payload, int with_csum)
{
	memset(buf, 0, AFC_HDR_LEN);
	buf[0] = h->version;
	buf[1] = h->flags;
	afc_put16(buf + 2, h->window);
	afc_put16(buf + 4, h->sport);
	afc_put16(buf + 6, h->dport);
	afc_put16(buf + 8, h->payload_len);
	afc_put32(buf + 12, h->saddr);
	afc_put32(buf + 16, h->daddr);
	afc_put32(buf + 20, h->seq);
	afc_put32(buf + 24, h->ack);
	buf[28] = h->wscale;
	afc_put16(buf + 30, h->mss);
	if ((h->flags & AFC_F_URG) && !(h->flags & AFC_F_SYN))
		afc_put32(buf + 28, h->urg);
	if (h->payload_len)
		memcpy(buf + AFC_HDR_LEN, payload, h->payload_len);
	if (with_csum)
		afc_put16(buf + 10, afc_csum(buf, AFC_HDR_LEN + h->payload_len));
	return AFC_HDR_LEN + h->payload_len;
}

/* Sends `len` bytes after an Ethernet header with our EtherType, on packet socket `fd`. */
static inline int afc_inject_fd(int fd, const char *ifname, const void *data, size_t len)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
				   .sll_protocol = htons(ETH_P_AF_CUSTOM),
				   .sll_halen = ETH_ALEN };
	static uint8_t frame[ETH_HLEN + 65536];
	struct ether_header *eh = (void *)frame;
	int ret;

	sll.sll_ifindex = if_nametoindex(ifname);
	if (!sll.sll_ifindex || len > 65536)
		return -1;
	memset(eh, 0, ETH_HLEN);
	memset(eh->ether_dhost, 0xff, ETH_ALEN);
	memcpy(sll.sll_addr, eh->ether_dhost, ETH_ALEN);
	eh->ether_type = htons(ETH_P_AF_CUSTOM);
	memcpy(frame + ETH_HLEN, data, len);
	ret = sendto(fd, frame, ETH_HLEN + len, 0, (void *)&sll, sizeof(sll));
	return ret == (int)(ETH_HLEN + len) ? 0 : -1;
}

/* The same with a packet socket of its own. */
static inline int afc_inject(const char *ifname, const void *data, size_t len)
{
	int fd = socket(AF_PACKET, SOCK_RAW, 0), ret;

	if (fd < 0)
		return -1;
	ret = afc_inject_fd(fd, ifname, data, len);
	close(fd);
	return ret;
}

/* The receiver's checksum test (docs/PROTOCOL.md 1.3) of a frame of
 * `len` bytes (header and payload): field non-zero, and the frame with
 * its field sums to 0xffff. */
static inline int afc_csum_verify(const uint8_t *f, size_t len)
{
	return len >= AFC_HDR_LEN && (f[10] | f[11]) && afc_sum16(f, len) == 0xffff;
}

/* Stores the right checksum of header + payload (len bytes) in the field. */
static inline void afc_csum_set(uint8_t *f, size_t len)
{
	f[10] = f[11] = 0;
	afc_put16(f + 10, afc_csum(f, len));
}

static inline uint16_t afc_get16(const uint8_t *b) { return b[0] << 8 | b[1]; }
static inline uint32_t afc_get32(const uint8_t *b) { return (uint32_t)afc_get16(b) << 16 | afc_get16(b + 2); }

/* The unicast rule of the address fields (PROTOCOL.md 1.1), host order. */
static inline int afc_addr_unicast(uint32_t a)
{
	return a >> 24 != 0 && !(a >> 24 >= 224 && a >> 24 <= 239) && a != 0xffffffffu;
}

/*
 * Header::parse_prefix of docs/PROTOCOL.md 1.2 (steps 1-7, not the
 * checksum) on a received frame of `len` bytes: 0 if the module takes its
 * header, -1 if it rejects it (InErrs).
 */
static inline int afc_hdr_valid(const uint8_t *f, size_t len)
{
	uint8_t fl;
	uint16_t plen;
	int ptr;	/* bytes 28-31 are the urgent pointer */

	if (len < AFC_HDR_LEN || f[0] != 1)
		return -1;
	fl = f[1];
	ptr = (fl & AFC_F_URG) && !(fl & AFC_F_SYN);
	if (!ptr && f[29])
		return -1;
	if (fl & 0xe0)
		return -1;
	if ((fl & AFC_F_SYN) && (fl & (AFC_F_RST | AFC_F_FIN)))
		return -1;
	if ((fl & AFC_F_URG) && (fl & (AFC_F_SYN | AFC_F_RST)))
		return -1;
	if (!(fl & (AFC_F_ACK | AFC_F_SYN | AFC_F_RST)))
		return -1;
	if (!(fl & AFC_F_ACK) && afc_get32(f + 24))
		return -1;
	if (!afc_get16(f + 4) || !afc_get16(f + 6))
		return -1;
	if (!afc_addr_unicast(afc_get32(f + 12)) || !afc_addr_unicast(afc_get32(f + 16)))
		return -1;
	plen = afc_get16(f + 8);
	if (plen > 65535 - AFC_HDR_LEN || ((fl & (AFC_F_SYN | AFC_F_RST)) && plen))
		return -1;
	if (fl & AFC_F_SYN) {
		if (f[28] > 14 || afc_get16(f + 30) < 64)
			return -1;
	} else if (ptr) {
		/* The pointer lies after the sequence number (signed difference). */
		if ((int32_t)(afc_get32(f + 28) - afc_get32(f + 20)) <= 0)
			return -1;
	} else if (f[28] || afc_get16(f + 30)) {
		return -1;
	}
	if (len < (size_t)AFC_HDR_LEN + plen)
		return -1;
	return 0;
}

#endif
