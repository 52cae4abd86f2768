/*
 * webmsg — see webmsg.h.
 *
 * One table for codes and one for the reasons of a policy refusal; a
 * reason is looked up first, since it says more than "denied".
 */
#include "broker/webmsg.h"

#include <stddef.h>
#include <string.h>

struct entry {
	const char *code;
	int status;
	const char *ja;
};

static const struct entry codes[] = {
	{ "bad_request", 400, "リクエストの形式が正しくありません。画面を再読み込みしてやり直してください。" },
	{ "bad_value", 400, "入力に誤りがあります。項目を確かめて、もう一度送ってください。" },
	{ "invalid", 400, "入力に誤りがあります。項目を確かめて、もう一度送ってください。" },
	{ "missing", 400, "必要な項目がありません。入力してから送ってください。" },
	{ "unknown_op", 400, "この操作は受け付けられません。" },
	{ "class_required", 400, "機密性の分類が選ばれていません。1〜3 のいずれかを選んでください。" },
	{ "size_mismatch", 400, "受け取ったデータの大きさが申告と違います。もう一度アップロードしてください。" },
	{ "hash_mismatch", 422, "受け取ったファイルの SHA-256 が申告と一致しません。ファイルは破棄されました。もう一度アップロードしてください。" },
	{ "mismatch", 409, "この送信は別のファイル・大きさ・分類・経路で始められています。新しく送信し直してください。" },
	{ "offset_mismatch", 409, "再開位置が関所の記録と一致しません。位置を問い合わせてから再開してください。" },
	{ "step_up_required", 403, "この操作には確認コード（ワンタイムパスワード）が必要です。認証アプリの現在のコードを入力してください。" },
	{ "step_up_failed", 403, "確認コードが正しくありません。認証アプリの現在のコードを入力してください。" },
	{ "stepup_lockout", 429, "確認コードの誤りが続いたため、しばらく受け付けません。時間をおいてやり直してください。" },
	{ "denied", 403, "この送信は登録簿の規則により認められません。理由を確かめ、必要なら例外措置を申請してください。" },
	{ "approval_required", 403, "この送信には承認が必要ですが、この関所では承認待ちを扱っていません。管理者に連絡してください。" },
	{ "forbidden", 403, "この操作を行う権限がありません。" },
	{ "not_officer", 403, "この操作は承認担当者だけが行えます。" },
	{ "not_auditor", 403, "この操作は監査担当者だけが行えます。" },
	{ "not_permitted", 403, "この操作を行う権限がありません。" },
	{ "own_request", 403, "自分の申請・送信を自分で承認することはできません。別の担当者に依頼してください。" },
	{ "no_authority", 403, "この経路について判断する権限がありません。" },
	{ "cross_origin", 403, "このリクエストは関所の画面からのものではないため受け付けません。" },
	{ "no_certificate", 403, "クライアント証明書が提示されていません。" },
	{ "not_found", 404, "指定されたものが見つかりません。番号を確かめてください。" },
	{ "method_not_allowed", 405, "この操作はこのアドレスでは使えません。" },
	{ "busy", 409, "この送信は別の接続で処理中です。少し待ってからやり直してください。" },
	{ "already_voted", 409, "この件にはすでに判断を記録しています。" },
	{ "bad_state", 409, "今の状態ではこの操作はできません。一覧を更新して状態を確かめてください。" },
	{ "wrong_state", 409, "この送信は今の状態ではこの操作ができません（取り下げは承認待ちか送信途中のものだけ、開封は承認待ちのものだけです）。一覧を更新して状態を確かめてください。" },
	{ "not_pending", 409, "この件はすでに判断済みか、取り下げられています。" },
	{ "not_resumable", 409, "この送信は再開できません。新しく送信し直してください。" },
	{ "approval_decided", 409, "この件はすでに判断されています。" },
	{ "approval_expired", 410, "承認の期限が過ぎました。必要なら送信し直してください。" },
	{ "expired", 410, "期限が過ぎています。新しく送信し直してください。" },
	{ "used_up", 409, "例外措置の回数・容量を使い切っています。" },
	{ "too_long", 400, "期間が長すぎます。上限の範囲で指定してください。" },
	{ "too_large", 413, "大きすぎます。上限の範囲で送ってください。" },
	{ "disk_full", 507, "関所の保存領域に空きがありません。時間をおいてやり直すか、管理者に連絡してください。" },
	{ "io_error", 500, "関所でファイルを保存できませんでした。時間をおいてやり直すか、管理者に連絡してください。" },
	{ "spool_damaged", 500, "保存されたファイルが損傷しています。管理者に連絡してください。" },
	{ "internal", 500, "関所の内部で問題が起きました。管理者に連絡してください。" },
	{ "audit_unavailable", 503, "監査記録を書けないため、安全のため受け付けを止めています。管理者に連絡してください。" },
	{ "unavailable", 503, "関所が一時的に応答できません。時間をおいてやり直してください。" },
	{ "shutting_down", 503, "関所が停止中です。時間をおいてやり直してください。" },
	{ "rate_limited", 429, "リクエストが多すぎます。時間をおいてやり直してください。" },
	{ "unsupported_version", 412, "この tus のバージョンには対応していません（1.0.0 を使ってください）。" },
	{ "unsupported_media_type", 415, "データの形式が違います（application/offset+octet-stream で送ってください）。" },
	{ "enrol_code_invalid", 403, "登録コードが正しくありません。管理者から受け取ったコードを確かめてください（コードは一人一回限りです）。" },
	{ "enrol_code_used", 409, "この登録コードは既に使われています。心当たりがなければ直ちに管理者に連絡し、新しいコードを依頼してください。" },
	{ "enrol_code_expired", 410, "この登録コードは有効期限が切れています。管理者に新しいコードを依頼してください。" },
	{ "totp_active", 409, "このアカウントには既に有効なワンタイムコード（TOTP）が設定されています。置き換えるためのコードを管理者に依頼してください。" },
	{ "no_pending_secret", 409, "確認待ちのワンタイムコード設定がありません。先に登録コードを入力してください。" },
	{ "locked", 429, "誤りが続いたため、しばらく受け付けません。時間をおいてやり直してください。" },
	{ "damaged", 500, "関所に保存されたファイルが記録された SHA-256 と一致しないため、ファイルを送れません。管理者に連絡してください。" },
	{ "unknown_field", 400, "知らない項目が含まれています。その項目を外して送ってください。" },
	{ "register_file_mode", 409, "台帳をファイルから読み込む設定のため、この操作はできません。" },
	{ "not_admin", 403, "台帳の変更を提案するには管理者（admin）の役割が必要です。" },
	{ "not_register_approver", 403, "台帳の変更を承認できるのは承認者グループ（register_approvers）のメンバーだけです。" },
	{ "register_invalid", 400, "台帳に誤りがあるため提案できません。行番号の示す箇所を直してください。" },
	{ "register_hash_mismatch", 400, "受け取った台帳の SHA-256 が一致しません。もう一度送ってください。" },
	{ "register_exists", 409, "この内容の台帳は既に登録されています。" },
	{ "register_not_pending", 409, "この版は承認待ちではありません。" },
	{ "register_expired", 410, "この提案は期限切れです。必要なら提案し直してください。" },
	{ "register_stale", 409, "この提案の後に別の版が有効になりました。最新の版をもとに提案し直してください。" },
	{ "length_required", 411, "大きさ（Upload-Length）が指定されていません。" },
};

static const struct entry reasons[] = {
	{ "class_too_high", 403, "この経路では、この機密性の分類のファイルは送れません。分類を確かめるか、承認担当者に例外措置を申請してください。" },
	{ "class_forbidden", 403, "この機密性の分類はこの経路で認められていません。分類を確かめてください。" },
	{ "outside_hours", 403, "この経路は今の時間帯には使えません。利用できる時間帯に送ってください。" },
	{ "too_large", 413, "ファイルがこの経路の上限より大きいです。分けて送るか、例外措置を申請してください。" },
	{ "extension_not_allowed", 403, "この拡張子のファイルはこの経路では送れません。" },
	{ "extension_required", 403, "この経路では認められた拡張子のファイルだけが送れます。" },
	{ "daily_bytes_exceeded", 429, "この経路の 1 日の送信量の上限に達しました。明日以降に送るか、例外措置を申請してください。" },
	{ "daily_count_exceeded", 429, "この経路の 1 日の送信件数の上限に達しました。明日以降に送るか、例外措置を申請してください。" },
	{ "unknown_interface", 404, "その経路は登録簿にありません。一覧から選び直してください。" },
	{ "unknown_principal", 403, "あなたは登録簿に登録されていません。管理者に連絡してください。" },
	{ "principal_disabled", 403, "あなたの利用は停止されています。管理者に連絡してください。" },
	{ "principal_mismatch", 403, "証明書の所属・端末が登録簿と一致しません。管理者に連絡してください。" },
	{ "terminal_not_permitted", 403, "この端末からはこの経路を使えません。" },
	{ "not_permitted", 403, "あなたはこの経路を使う許可がありません。必要なら例外措置を申請してください。" },
	{ "not_yet_valid", 403, "この経路はまだ利用開始前です。" },
	{ "expired", 403, "この経路の利用期間は終わっています。" },
	{ "review_overdue", 403, "この経路は定期見直し（棚卸し）の期限を過ぎているため使えません。管理者に連絡してください。" },
	{ "forbidden", 403, "登録簿の規則によりこの送信は認められません。" },
	{ "invalid_request", 400, "送信の内容に誤りがあります。項目を確かめてください。" },
	{ "evaluation_error", 503, "規則を評価できなかったため、安全のため送信を止めました。管理者に連絡してください。" },
	{ "step_up_required", 403, "この経路では確認コード（ワンタイムパスワード）が必要です。認証アプリの現在のコードを入力してください。" },
	{ "approval_required", 403, "この送信には承認担当者の承認が必要です。" },
};

static const struct entry *
find(const struct entry *t, size_t n, const char *code)
{
	size_t i;

	if (code == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		if (strcmp(t[i].code, code) == 0)
			return &t[i];
	return NULL;
}

#define NCODES (sizeof(codes) / sizeof(codes[0]))
#define NREASONS (sizeof(reasons) / sizeof(reasons[0]))

int
webmsg_status(const char *code)
{
	const struct entry *e = find(codes, NCODES, code);

	return e != NULL ? e->status : 400;
}

const char *
webmsg_ja(const char *code, const char *reason)
{
	const struct entry *e;

	if ((e = find(reasons, NREASONS, reason)) != NULL &&
	    (code == NULL || strcmp(code, "denied") == 0 ||
	    strcmp(code, "step_up_required") == 0 ||
	    strcmp(code, "too_large") == 0))
		return e->ja;
	if ((e = find(codes, NCODES, code)) != NULL)
		return e->ja;
	return "要求を受け付けられませんでした。下の英語の説明とコードを確かめ、"
	    "解決しなければ管理者に連絡してください。";
}
