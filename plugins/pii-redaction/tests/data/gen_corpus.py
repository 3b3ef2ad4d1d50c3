#!/usr/bin/env python3
"""Builds corpus.txt: English and Chinese sentences with planted values marked ⟦detector|value⟧,
invalid-checksum twins left unmarked, and look-alikes (order numbers, timestamps, versions...)
that must not be detected. Deterministic (fixed seed); rerun to regenerate."""
import random

R = random.Random(20261126)

def luhn_complete(prefix, length):
    body = prefix + "".join(R.choice("0123456789") for _ in range(length - len(prefix) - 1))
    for c in "0123456789":
        s = body + c
        tot = 0
        for i, d in enumerate(reversed(s)):
            v = int(d)
            if i % 2 == 1:
                v *= 2
                v -= 9 if v > 9 else 0
            tot += v
        if tot % 10 == 0:
            return s
    raise AssertionError

def luhn_break(s):
    last = str((int(s[-1]) + 1) % 10)
    return s[:-1] + last

def id18():
    region = R.choice(["110105", "310104", "440305", "330106", "510107", "420102", "320102"])
    y, m, d = R.randint(1950, 2005), R.randint(1, 12), R.randint(1, 28)
    body = f"{region}{y:04d}{m:02d}{d:02d}{R.randint(0, 999):03d}"
    w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    c = "10X98765432"[sum(int(a) * b for a, b in zip(body, w)) % 11]
    return body + c

def id18_bad(s):
    c = "10X98765432"
    wrong = c[(c.index(s[-1]) + 3) % 11]
    return s[:-1] + wrong

def id15():
    region = R.choice(["110105", "310104", "440305"])
    return f"{region}{R.randint(50, 99):02d}{R.randint(1, 12):02d}{R.randint(1, 28):02d}{R.randint(0, 999):03d}"

def mobile():
    return R.choice(["138", "139", "150", "186", "177", "199", "135"]) + "".join(R.choice("0123456789") for _ in range(8))

def iban(country, bban):
    s = bban + country + "00"
    n = int("".join(str(int(ch, 36)) for ch in s))
    return f"{country}{98 - n % 97:02d}{bban}"

def iban_bad(s):
    return s[:2] + f"{(int(s[2:4]) + 1) % 100:02d}" + s[4:]

def ssn():
    return f"{R.randint(1, 665):03d}-{R.randint(1, 99):02d}-{R.randint(1, 9999):04d}"

def rnd(chars, n):
    return "".join(R.choice(chars) for _ in range(n))

AN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
UP = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

def m(kind, v):
    return f"⟦{kind}|{v}⟧"

lines = []
add = lines.append

for _ in range(12):
    p = mobile()
    add(f"我的手机号是{m('cn_mobile', p)}，有事打给我。")
    add(f"Call me at {m('cn_mobile', p[:3] + '-' + p[3:7] + '-' + p[7:])} after 6pm.")
    add(f"联系方式：{m('cn_mobile', '+86 ' + p[:3] + ' ' + p[3:7] + ' ' + p[7:])}")
for area, num in [("010", "62345678"), ("021", "54321987"), ("0755", "8765432"), ("0571", "88886666"), ("020", "38765432")]:
    add(f"公司座机{m('cn_landline', area + '-' + num)}，工作日接听。")
for v in ["+44 20 7946 0958", "+1 415 555 2671", "+33142685300", "+49 30 901820", "+81-3-1234-5678"]:
    add(f"Reach our office at {m('intl_phone', v)} during business hours.")
for _ in range(12):
    i = id18()
    add(f"身份证号码{m('cn_id', i)}，请核对。")
    add(f"ID on file: {m('cn_id', i)}.")
    add(f"校验位错误的号码{id18_bad(i)}不应被识别。")
for _ in range(4):
    add(f"老式身份证{m('cn_id', id15())}仍可使用。")
for prefix, length in [("4", 16), ("51", 16), ("55", 16), ("37", 15), ("6011", 16), ("62", 19), ("3530", 16), ("2221", 16)] * 2:
    c = luhn_complete(prefix, length)
    grouped = " ".join(c[i:i + 4] for i in range(0, len(c), 4)) if length == 16 else c
    add(f"Please charge card {m('bank_card', grouped)} for the order.")
    add(f"银行卡号{m('bank_card', c)}，开户行招商银行。")
    add(f"This card number {luhn_break(c)} failed the Luhn check.")
for country, bban in [("GB", "WEST12345698765432"), ("DE", "370400440532013000"), ("FR", "20041010050500013M02606"), ("NL", "ABNA0417164300"), ("ES", "21000418450200051332")]:
    i = iban(country, bban)
    add(f"Wire the money to IBAN {m('iban', i)} by Friday.")
    grouped = " ".join(i[k:k + 4] for k in range(0, len(i), 4))
    add(f"Printed: {m('iban', grouped)}.")
    add(f"The IBAN {iban_bad(i)} has a wrong check digit.")
for _ in range(8):
    s = ssn()
    add(f"My SSN is {m('us_ssn', s)}, please keep it private.")
for bad in ["000-12-3456", "666-12-3456", "912-12-3456", "123-00-4567", "123-45-0000"]:
    add(f"Invalid SSN {bad} should be ignored.")
for ip in ["192.168.1.10", "10.0.0.254", "172.16.31.7", "8.8.8.8", "203.0.113.45"]:
    add(f"The server {m('ipv4', ip)} is down.")
    add(f"服务器地址{m('ipv4', ip)}无法访问")
for ip in ["2001:db8::8a2e:370:7334", "fe80::1ff:fe23:4567:890a", "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "::1"]:
    add(f"IPv6 address {m('ipv6', ip)} responds to ping.")
for mac in ["00:1A:2B:3C:4D:5E", "a4-5e-60-c1-22-9f", "F0:18:98:7A:BC:01"]:
    add(f"Device MAC {m('mac', mac)} registered.")
for pp in ["E12345678", "G87654321", "EA1234567", "D1234567"]:
    add(f"护照号码{m('passport', pp)}，有效期至2030年。")
for pl in ["京A·12345", "沪B88888", "粤BD12345", "浙A12345F", "川A9X123"]:
    add(f"车牌号{m('cn_plate', pl)}的车辆违停。")
for _ in range(6):
    e = R.choice(["alice", "bob.smith", "zhang.wei+ai", "li_na", "ops-team"]) + "@" + R.choice(["example.com", "corp.example.cn", "mail.example.co.uk", "qq.com"])
    add(f"请发邮件到{m('email', e)}。")
    add(f"Send the report to {m('email', e)}.")
add(f"OpenAI key {m('openai_key', 'sk-proj-' + rnd(AN, 40))} leaked.")
add(f"OPENAI_API_KEY={m('openai_key', 'sk-' + rnd(AN, 48))}")
add(f"Anthropic: {m('anthropic_key', 'sk-ant-api03-' + rnd(AN, 60))}")
add(f"aws_access_key_id = {m('aws_access_key', 'AKIA' + rnd(UP, 16))}")
add(f"阿里云AccessKey ID：{m('aliyun_access_key', 'LTAI' + rnd(AN, 20))}")
add(f"token {m('github_token', 'ghp_' + rnd(AN, 36))}")
add(f"fine-grained {m('github_token', 'github_pat_' + rnd(AN, 22) + '_' + rnd(AN, 59))}")
add(f"slack {m('slack_token', 'xoxb-' + rnd('0123456789', 12) + '-' + rnd(AN, 24))}")
add(f"Authorization: Bearer {m('jwt', 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.' + rnd(AN, 43))}")
add(f"key: {m('private_key', '-----BEGIN OPENSSH PRIVATE KEY-----' + chr(92) + 'n' + rnd(AN, 64) + chr(92) + 'n-----END OPENSSH PRIVATE KEY-----')}")
add(f"DATABASE_URL=postgres://{m('url_credentials', 'admin:' + rnd(AN, 16))}@db.internal:5432/app")
add(f"clone https://{m('url_credentials', 'deploy:' + rnd(AN, 20))}@git.example.com/repo.git")

for ctx in ["export KEY={}", "密钥是{}，请妥善保管", "{{\"token\": \"{}\"}}"]:
    add(ctx.format(m('openai_key', 'sk-' + rnd(AN, 32))))
    add(ctx.format(m('anthropic_key', 'sk-ant-api03-' + rnd(AN, 40))))
    add(ctx.format(m('aws_access_key', R.choice(['AKIA', 'ASIA']) + rnd(UP, 16))))
    add(ctx.format(m('aliyun_access_key', 'LTAI' + rnd(AN, 16))))
    add(ctx.format(m('github_token', R.choice(['ghp_', 'gho_', 'ghs_']) + rnd(AN, 36))))
    add(ctx.format(m('slack_token', R.choice(['xoxb-', 'xoxp-']) + rnd('0123456789', 11) + '-' + rnd(AN, 20))))
    add(ctx.format(m('jwt', 'eyJhbGciOiJSUzI1NiJ9.eyJ' + rnd(AN, 30) + '.' + rnd(AN, 40))))
    add(ctx.format(m('url_credentials', 'svc:' + rnd(AN, 12)) .join(['https://', '@api.example.com/v1'])))
for s_ in ["sk-" + "a" * 30, "AKIA" + rnd(UP, 10), "LTAI" + rnd(AN, 6), "ghp_" + rnd(AN, 20), "xoxb-short",
           "eyJhbGciOiJIUzI1NiJ9 without payload", "https://example.com/user@host", "mailto://nobody"]:
    add(f"Not a secret: {s_} here.")

# Look-alikes: nothing here may be detected.
for s in [
    "订单号20240520123456789已发货。", "Order #138123456789 shipped.", "Tracking ORD-13812345678 pending.",
    "Unix time 1716192000 and 1716192000123 in ms.", "Version 1.2.3 and build 10.4.2.1-rc1 released.",
    "Upgrade to v2.10.3.4 today.", "Total: 13812345678.50 CNY.", "The commit 3f2a9c01d4e5b6a7c8d9e0f1a2b3c4d5e6f7a8b9 fixed it.",
    "UUID 550e8400-e29b-41d4-a716-446655440000 assigned.", "Meeting at 12:30:45 on 2024-05-20.",
    "Invoice INV2024052000123 is due.", "The population was 1409670000 in 2023.", "Call extension 8000.",
    "ISBN 978-3-16-148410-0 is in stock.", "Serial SN1234567890ABCDEF registered.", "Pi is 3.14159265358979.",
    "use std::collections::HashMap; a::b::c", "npm install @types/node@18.0.0", "email me at user@localhost",
    "The sk-learn-tutorial is great.", "AKIA is a prefix, not a key.", "ghp_short", "价格¥1999，库存88件。",
    "会议号 123 456 789 请准时参加。", "坐标 116.397128, 39.916527", "学号2021213456", "工号E1234", "区号010",
    "Room 1203, Building 5", "Amount 4111111111111112 rejected", "Ratio 1:2:3 and time 09:00",
    "-----BEGIN CERTIFICATE-----MIIC-----END CERTIFICATE-----", "https://example.com/path?q=1",
    "京东订单JD1234567890", "Mac mini M2 2023", "IPv4 999.1.1.1 is invalid", "IBAN GB00WEST12345698765432 wrong",
]:
    add(s)

with open("corpus.txt", "w", encoding="utf-8") as f:
    f.write("# Generated by gen_corpus.py. ⟦detector|value⟧ marks a planted value; everything else must stay undetected.\n")
    for l in lines:
        f.write(l + "\n")
print(len(lines), "lines")
