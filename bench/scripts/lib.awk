# SPDX-License-Identifier: BSD-2-Clause
# awk functions shared by cache.sh, kmem.sh and macro.sh (which put this
# file's text in front of their own programs).
#
# kv(key): the value of "key=value" among the fields of the current
# line, "" when absent.
function kv(key,   i) {
	for (i = 2; i <= NF; i++)
		if (index($i, key "=") == 1)
			return substr($i, length(key) + 2)
	return ""
}
# med(list): the median of a comma-separated list of numbers.
function med(list,   v, n, i, j, t) {
	n = split(list, v, ",")
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) {
			t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
		}
	return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
